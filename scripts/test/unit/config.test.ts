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
    [{ backupDir: 5 }, /backupDir must be a directory path/],
    ['null', /the file must hold one JSON object of settings/],
    [[], /the file must hold one JSON object of settings/],
    [{ logFile: 5 }, /logFile must be a file path/],
    [{ environments: { prod: { protected: null } } }, /environments\.prod\.protected must be true or false/],
    [{ environments: { prod: null } }, /environments\.prod must be an object like \{ "protected": true \}/],
    [{ retention: { timeZone: 'Mars/Olympus' } }, /retention\.timeZone is not a time zone/],
    [{ notify: { onSuccess: 'yes' } }, /notify\.onSuccess must be true or false/],
    [{ backupDir: 5, remote: { url: 'ftp://x' } }, /backupDir must be a directory path; remote\.url "ftp:\/\/x" is not of the form s3:\/\/bucket\/prefix/],
  ])('refuses %j with code BAD_CONFIG (exit 3)', (content, message) => {
    const root = withConfig(content);
    expect(() => loadConfig(root)).toThrow(message);
    expect(() => loadConfig(root)).toThrow(expect.objectContaining({ code: 'BAD_CONFIG', exitCode: 3 }));
    try {
      loadConfig(root);
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('hunter2');
    }
  });

  it('names every problem at once', () => {
    const root = withConfig({ backupDir: 5, logFile: false, retention: { daily: 'seven', weekly: -1 }, colour: 'blue' });
    expect(() => loadConfig(root)).toThrow(/has 5 problems: .*backupDir must be a directory path; .*logFile must be a file path; .*retention\.daily must be a whole number ≥ 0; .*retention\.weekly must be a whole number ≥ 0; .*unknown setting "colour"/);
  });

  it('reads a valid file and none at all', () => {
    expect(loadConfig(withConfig({ backupDir: 'var/backups', retention: { daily: 3, timeZone: 'Europe/Berlin' } }))).toMatchObject({ backupDir: 'var/backups', retention: { daily: 3 } });
    expect(loadConfig(mkdtempSync(path.join(tmpdir(), 'pgkit-noconfig-')))).toEqual({});
  });
});
