/**
 * A second S3-compatible server, fauxqs (in this process, on loopback), for what s3rver cannot
 * do: abort a multipart upload. The kit is killed outright while it uploads, and the next
 * db:push aborts the upload it left on the server, which then refuses that upload's parts.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { buildApp } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupDir, cli, createDatabase, makeProject, startCli, waitFor } from '../support/harness.js';

const BUCKET = 'kit-offsite';
// fauxqs accepts any credentials; the kit still needs some to sign with.
const credentials = { AWS_ACCESS_KEY_ID: 'fauxqs', AWS_SECRET_ACCESS_KEY: 'fauxqs-secret', AWS_REGION: 'us-east-1' };
let app: ReturnType<typeof buildApp>;
let endpoint: string;
let sdk: S3Client;

beforeAll(async () => {
  app = buildApp({ logger: false });
  endpoint = await app.listen({ port: 0, host: '127.0.0.1' });
  sdk = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'fauxqs', secretAccessKey: 'fauxqs-secret' }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  await sdk.send(new CreateBucketCommand({ Bucket: BUCKET }));
});
afterAll(async () => {
  sdk?.destroy();
  await app?.close();
});

function pendingUploads(journal: string): Array<{ key: string; uploadId: string }> {
  if (!existsSync(journal)) return [];
  return JSON.parse(readFileSync(journal, 'utf8')) as Array<{ key: string; uploadId: string }>;
}

describe('an upload left by a killed kit, on a server that can abort it', () => {
  it('db:push aborts it on the server and forgets it', async () => {
    // About 20 MB of dump that compresses poorly: several 5 MiB parts.
    const source = await createDatabase({ sql: "CREATE TABLE big (id int, v text); INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) FROM generate_series(1, 200000) g" });
    const dir = makeProject({ 'backup-kit.json': JSON.stringify({ remote: { url: `s3://${BUCKET}/abort`, endpoint } }) });
    const env = { DATABASE_URL: source.url, ...credentials };
    const journal = path.join(backupDir(dir), '.remote-uploads.json');

    const { child, result } = startCli('pg-backup', ['--format', 'sql'], { cwd: dir, env });
    const [left] = await waitFor('a part of the upload to be stored', () => {
      const uploads = pendingUploads(journal);
      return uploads.length > 0 ? uploads : undefined;
    });
    child.kill('SIGKILL');
    await result;
    expect(left!.key).toMatch(/^abort\/default\/backup_manual_\d+_\d+\.sql$/);

    const push = await cli('push', ['--json'], { cwd: dir, env });
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).not.toMatch(/NodeVersionSupportWarning/); // the README says it once instead
    // the interrupted upload, and any object of that backup that was already complete
    expect(push.json<{ cleaned: string[] }>().cleaned).toContainEqual(expect.stringContaining(`s3://${BUCKET}/${left!.key}`));
    expect(pendingUploads(journal)).toEqual([]);
    expect((await sdk.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'abort/' }))).Contents ?? []).toEqual([]);
    // The server itself no longer has the upload.
    const part = sdk.send(new UploadPartCommand({ Bucket: BUCKET, Key: left!.key, UploadId: left!.uploadId, PartNumber: 9, Body: 'x' }));
    await expect(part).rejects.toMatchObject({ name: 'NoSuchUpload' });
  });
});
