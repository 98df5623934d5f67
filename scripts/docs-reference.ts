// `pnpm docs:reference`: writes docs/reference/ from the registry, the configuration schema and the error table.
import { main } from './lib/cli/reference.js';
process.exitCode = main(process.cwd());
