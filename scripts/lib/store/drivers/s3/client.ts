/**
 * The one place an S3 client is made, and the one place its failures become KitErrors with a
 * message that says what to do. Nothing here ever prints a credential: messages name the
 * variable a credential came from, never its value.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { KitError } from '../../../errors.js';
import { redact } from '../../../redact.js';
import { remoteLocation, type Remote } from '../../../config/remote.js';

export type Sdk = typeof import('@aws-sdk/client-s3');
let sdk: Promise<Sdk> | undefined;

/**
 * The SDK, loaded on first use: it costs a quarter of a second and 25 MB at start-up, which no
 * command without a remote should pay.
 */
export function loadSdk(): Promise<Sdk> {
  // On Node.js 20 the SDK warns on stderr, once per process, that its releases after January 2027
  // need Node.js 22. Every command with a remote (and every wal-push, into the server's log) would
  // print it; docs/04-offsite.md says it once instead. Set the variable to "false" to see it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return (sdk ??= import('@aws-sdk/client-s3'));
}

export async function makeS3Client(remote: Remote, overrides: { maxAttempts?: number } = {}): Promise<S3Client> {
  const { S3Client } = await loadSdk();
  return new S3Client({
    region: remote.region,
    ...(remote.endpoint ? { endpoint: remote.endpoint } : {}),
    forcePathStyle: remote.forcePathStyle,
    ...(remote.credentials ? { credentials: remote.credentials } : {}),
    ...(remote.profile ? { profile: remote.profile } : {}),
    // Since v3.729 the SDK adds CRC checksums to every upload by default; R2, B2, OVH and parts
    // of MinIO reject them, and some servers store the aws-chunked framing as if it were data.
    // The kit's own sha256 in .info is the proof of every byte, so checksums only when required.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // The SDK's standard strategy: only what is safe to repeat (throttling, 5xx, timeouts, lost
    // connections), with exponential backoff and jitter between tries.
    maxAttempts: overrides.maxAttempts ?? remote.attempts,
    // No `requestTimeout`: in this SDK it only logs a warning unless told to throw, and as a limit
    // on a whole request it would cut off a large part on a slow line. What ends a hang is
    // silence: a socket with no byte in either direction for requestTimeoutMs fails the try.
    requestHandler: { connectionTimeout: remote.connectTimeoutMs, socketTimeout: remote.requestTimeoutMs },
  });
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  cause?: unknown;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'TimeoutError', 'RequestTimeout', 'UND_ERR_SOCKET']);

function codeOf(error: SdkError): string {
  const nested = error.cause as SdkError | undefined;
  return error.code ?? error.Code ?? nested?.code ?? error.name ?? '';
}

/** The error's kind, for code that must react (a missing object is not a failure to list). Pure. */
export function classifyS3Error(error: unknown): 'not-found' | 'no-bucket' | 'credentials' | 'denied' | 'skew' | 'unknown-host' | 'connect-timeout' | 'silent' | 'network' | 'not-implemented' | 'aborted' | 'other' {
  const e = (error ?? {}) as SdkError;
  // The run's signal ended the request (Ctrl-C, SIGTERM): never worth another try.
  if (e.name === 'AbortError') return 'aborted';
  const code = codeOf(e);
  const status = e.$metadata?.httpStatusCode;
  if (code === 'NoSuchBucket') return 'no-bucket';
  if (code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchUpload' || (status === 404 && code !== 'NoSuchBucket')) return 'not-found';
  if (code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || code === 'InvalidToken' || code === 'ExpiredToken' || code === 'CredentialsProviderError' || code === 'InvalidClientTokenId') return 'credentials';
  if (code === 'RequestTimeTooSkewed' || code === 'RequestExpired') return 'skew';
  if (code === 'AccessDenied' || code === 'Forbidden' || status === 403) return 'denied';
  if (code === 'NotImplemented' || code === 'MethodNotAllowed' || status === 501 || status === 405) return 'not-implemented';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'unknown-host';
  // The request handler's own deadlines (connectTimeoutMs, requestTimeoutMs) both say TimeoutError.
  if (code === 'TimeoutError' && /without establishing a connection/i.test(e.message ?? '')) return 'connect-timeout';
  if (code === 'TimeoutError' && /of inactivity/i.test(e.message ?? '')) return 'silent';
  if (NETWORK_CODES.has(code) || /socket hang up|ECONNREFUSED|ECONNRESET|EPIPE|other side closed/i.test(e.message ?? '')) return 'network';
  return 'other';
}

/** A failure worth another try: the connection was lost, or a deadline passed. Pure. */
export function isTransient(error: unknown): boolean {
  const kind = classifyS3Error(error);
  return kind === 'network' || kind === 'connect-timeout' || kind === 'silent';
}

/**
 * An SDK failure in the kit's words. `what` says what the kit was doing ("uploading x.dump");
 * `key` (when one object is concerned) names it, so a 403 on one object is told apart from a
 * bucket that refuses everything.
 */
export function remoteError(error: unknown, remote: Remote, what: string, key?: string): KitError {
  if (error instanceof KitError) return error;
  const e = (error ?? {}) as SdkError;
  const where = remote.endpoint ? `${remoteLocation(remote)} at ${remote.endpoint}` : remoteLocation(remote);
  const raw = redact(`${codeOf(e)}${e.message && e.message !== codeOf(e) ? `: ${e.message}` : ''}`);
  const options = { cause: error, detail: raw };
  const creds = remote.credentialSource === 'none'
    ? 'No credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the process environment or the environment\'s .env file'
    : `The credentials came from ${remote.credentialSource}`;
  switch (classifyS3Error(error)) {
    case 'no-bucket':
      return new KitError('REMOTE_BUCKET_MISSING', `The bucket "${remote.bucket}" does not exist at ${remote.endpoint ?? 'AWS'} (${what}). Create it (aws s3 mb s3://${remote.bucket}), or fix the bucket name in --remote / backup-kit.json.`, options);
    case 'credentials':
      return new KitError('REMOTE_CREDENTIALS', `The object store rejected the credentials (${raw.split(':')[0]}) while ${what} at ${where}. ${creds}; check that the key id and secret belong together and to this provider.`, options);
    case 'skew':
      return new KitError('REMOTE_CLOCK_SKEW', `The object store rejected the request because this machine's clock is off by more than 15 minutes (${what}). Set the clock right (timedatectl set-ntp true, or install chrony) and run again.`, options);
    case 'denied':
      return key
        ? new KitError('REMOTE_DENIED', `Access denied to ${remoteLocation({ scheme: remote.scheme, bucket: remote.bucket, prefix: '' }, key)} while ${what}. The credentials from ${remote.credentialSource} may read the bucket but not this object: grant s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on s3://${remote.bucket}/${remote.prefix}* (or ask the bucket's owner), then run again.`, options)
        : new KitError('REMOTE_DENIED', `Access denied to ${where} while ${what}. Grant the credentials from ${remote.credentialSource} s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject and s3:AbortMultipartUpload on this bucket and prefix, then run again.`, options);
    case 'unknown-host':
      return new KitError('REMOTE_UNREACHABLE', `The object store's host is unknown (${what}): ${remote.endpoint ?? 'the AWS endpoint for region ' + remote.region} does not resolve. Check --endpoint / backup-kit.json's endpoint for a typo, and the machine's DNS.`, options);
    case 'aborted':
      return new KitError('INTERRUPTED', `Interrupted while ${what}.`, { cause: error });
    case 'connect-timeout':
    case 'silent':
      return timeoutError(e, remote, what, options);
    case 'network':
      return new KitError('REMOTE_UNREACHABLE', `The object store at ${remote.endpoint ?? 'AWS'} stopped answering while ${what} (${raw.split(':')[0] || 'connection lost'}). Check that it is running and reachable, then run again.`, options);
    default:
      return new KitError('REMOTE_FAILED', `The object store failed while ${what} at ${where}: ${raw || 'no reason given'}. Run again; if it persists, check the provider's status page.`, options);
  }
}

/** A deadline passed on every try: which one, how long, how many tries, and the key that sets it. */
function timeoutError(e: SdkError, remote: Remote, what: string, options: { cause: unknown; detail: string }): KitError {
  const endpoint = remote.endpoint ?? `the AWS endpoint for region ${remote.region}`;
  // Every path that can time out makes remote.attempts tries: the SDK's retry, or the kit's own
  // for streamed bodies (whose $metadata counts only the last one).
  const tries = remote.attempts;
  const connect = classifyS3Error(e) === 'connect-timeout';
  const seconds = (connect ? remote.connectTimeoutMs : remote.requestTimeoutMs) / 1000;
  const happened = connect ? `did not accept a connection within ${seconds} s` : `went silent for ${seconds} s in the middle of a request`;
  const key = connect ? 'connectTimeoutSeconds' : 'requestTimeoutSeconds';
  return new KitError('REMOTE_UNREACHABLE', `The object store at ${endpoint} ${happened} while ${what} (${tries} ${tries === 1 ? 'try' : 'tries'}). Check that it is running and reachable from this machine (a firewall that drops packets looks like this), or raise remote.${key} in backup-kit.json if it is only slow.`, options);
}
