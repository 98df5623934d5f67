/**
 * The storage seam holds in the code, not only on paper: only the s3 driver talks to the AWS
 * SDK, nothing outside store/ asks which class a store or archive is, and nothing outside the
 * remote's configuration decides where bytes go by an "s3://" prefix; physical backups and the
 * WAL archive are reached through the environment's repository, never opened on their own.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const LIB = path.join(import.meta.dirname, '../../lib');
const files = readdirSync(LIB, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => ({ name: f.split(path.sep).join('/'), text: readFileSync(path.join(LIB, f), 'utf8') }));

const offenders = (pattern: RegExp, allowed: (name: string) => boolean) => files.filter((f) => !allowed(f.name) && pattern.test(f.text)).map((f) => f.name);

describe('the storage seam', () => {
  it('only store/drivers/s3/ imports the AWS SDK', () => {
    expect(offenders(/from '@aws-sdk\/|import\('@aws-sdk\//, (n) => n.startsWith('store/drivers/s3/'))).toEqual([]);
  });

  it('no file outside store/ tests which class a store, archive or bucket is', () => {
    expect(offenders(/instanceof\s+(Mirrored|Remote|Local|Encrypting|Physical|Memory|File)\w*/, (n) => n.startsWith('store/'))).toEqual([]);
  });

  it('only store/ opens a physical store: everything else asks the environment\'s repository', () => {
    expect(offenders(/PhysicalStore\.open\(/, (n) => n.startsWith('store/'))).toEqual([]);
  });

  it('no file routes by a scheme string: a location is asked whether it is remote, not whether it is s3', () => {
    expect(offenders(/(startsWith|includes)\('s3:\/\/'\)/, () => false)).toEqual([]);
  });
});
