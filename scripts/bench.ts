// `pnpm bench`: the orchestrator and its cases live in scripts/bench/.
import { main, reportFailure } from './bench/main.js';
main(process.argv.slice(2)).catch(reportFailure);
