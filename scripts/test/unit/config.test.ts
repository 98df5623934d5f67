import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isProtected, loadConfig } from '../../lib/config/file.js';

function withConfig(content: unknown): string {
  const root = mkdtempSync(path.join(tmpdir(), 'pgkit-config-'));
  writeFileSync(path.join(root, 'backup-kit.json'), typeof content === 'string' ? content : JSON.stringify(content));
  return root;
}

describe('backup-kit.json', () => {
  it.each([
    [{}, 'prod', true],
    [{}, 'Production', true],
    [{}, 'dev', false],
    [{ protected: ['staging'] }, 'staging', true],
    [{ protected: ['staging'] }, 'prod', false],
    [{ environments: { prod: { protected: false } } }, 'prod', false],
    [{ protected: [], environments: { qa: { protected: true } } }, 'qa', true],
  ])('%j: %s protected = %s', (config, env, expected) => {
    expect(isProtected(config, env)).toBe(expected);
  });

  it.each([
    [{ sync: { from: 'postgresql://app:hunter2@db/app' } }, /config\.sync\.from holds a URL with a password/],
    [{ environments: { prod: { password: 'x' } } }, /config\.environments\.prod\.password looks like a secret/],
    [{ retention: { daily: -1 } }, /retention\.daily must be a whole number/],
    [{ backupdir: 'x' }, /unknown setting "backupdir"/],
    [{ encryption: { recipients: ['AGE-SECRET-KEY-1QQQ'] } }, /config\.encryption\.recipients\.0 holds an age secret key/],
    [{ environments: { prod: { encryption: { recipient: 'age1x' } } } }, /environments\.prod\.encryption\.recipient is unknown/],
    ['{ not json', /not valid JSON/],
  ])('refuses %j', (content, message) => {
    const root = withConfig(content);
    expect(() => loadConfig(root)).toThrow(message);
    try {
      loadConfig(root);
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('hunter2');
    }
  });

  it('reads a valid file and none at all', () => {
    expect(loadConfig(withConfig({ backupDir: 'var/backups', retention: { daily: 3, timeZone: 'Europe/Berlin' } }))).toMatchObject({ backupDir: 'var/backups', retention: { daily: 3 } });
    expect(loadConfig(mkdtempSync(path.join(tmpdir(), 'pgkit-noconfig-')))).toEqual({});
  });
});
