// One line per case, in the order they run and are reported. See ../registry.ts.
import './raw-dump.js';
import './kit-dump.js';
import './kit-dump-remote.js';
import './kit-all.js';
import './naive-all.js';
import './raw-restore.js';
import './raw-restore-analyze.js';
import './kit-restore.js';
import './kit-verify-deep.js';
import './raw-restore-j2.js';
import './kit-restore-j2.js';
import './physical.js';
import './export.js';
import './export-differential.js';
import './age.js';
