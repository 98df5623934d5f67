// A real S3-compatible server (s3rver) on loopback, in its own process so a test can kill it
// mid-upload. Prints {"port": n} once it listens. argv: <data dir> <port or 0> <bucket…>
const S3rver = require('s3rver');

const [directory, port, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  directory,
  address: '127.0.0.1',
  port: Number(port),
  silent: true,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});
server.run((error, address) => {
  if (error) {
    process.stderr.write(`s3rver: ${error.message}\n`);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify({ port: address.port }) + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
