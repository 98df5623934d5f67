/**
 * Progress on stderr: an ora spinner in a terminal ("elapsed | bytes | rate | ETA"), a plain
 * line every ~10 s otherwise (cron and CI logs), nothing with --quiet or --no-progress.
 */
import type { ProgressUpdate, Reporter } from '../context.js';
import { formatBytes } from '../text/units.js';
import { formatDuration } from '../text/time.js';

export interface ReporterOptions {
  tty: boolean;
  quiet: boolean;
  progress: boolean;
  intervalMs: number;
  label: string;
  write: (line: string) => void;
}

export interface StoppableReporter extends Reporter {
  stop(): void;
}

export { formatDuration };

/** "dumping | 0:12 | 48.2 MB | 4.0 MB/s | ETA 0:30" — pure, for tests. */
export function progressLine(update: ProgressUpdate, elapsedMs: number): string {
  const parts = [update.phase, formatDuration(elapsedMs)];
  if (update.total) {
    const done = Math.min(update.done ?? 0, update.total);
    parts.push(`${done}/${update.total} items`);
    if (done > 0 && done < update.total) parts.push(`ETA ${formatDuration((elapsedMs / done) * (update.total - done))}`);
    if (update.detail) parts.push(update.detail);
    return parts.join(' | ');
  }
  if (update.bytes > 0) {
    const rate = update.bytes / Math.max(elapsedMs / 1000, 0.001);
    parts.push(formatBytes(update.bytes), `${formatBytes(rate)}/s`);
    if (update.estimate && update.estimate > update.bytes && rate > 0) {
      parts.push(`ETA ${formatDuration(((update.estimate - update.bytes) / rate) * 1000)}`);
    } else if (update.estimate) {
      parts.push('ETA soon');
    }
  }
  return parts.join(' | ');
}

export async function createReporter(options: ReporterOptions): Promise<StoppableReporter> {
  const started = Date.now();
  let last: ProgressUpdate = { phase: 'starting', bytes: 0 };
  if (options.quiet) return { progress: () => undefined, notice: () => undefined, stop: () => undefined };
  if (!options.progress) {
    return { progress: () => undefined, notice: (m) => options.write(`${options.label}: ${m}`), stop: () => undefined };
  }
  if (options.tty) {
    // Loaded only for a terminal: cron and CI runs skip its start-up cost.
    const { default: ora } = await import('ora');
    const spinner = ora({ stream: process.stderr, text: `${options.label}: starting` }).start();
    return {
      progress(update) {
        last = update;
        spinner.text = `${options.label}: ${progressLine(update, Date.now() - started)}`;
      },
      notice(message) {
        spinner.clear();
        options.write(`${options.label}: ${message}`);
        spinner.render();
      },
      stop() {
        spinner.stop();
      },
    };
  }
  const timer = setInterval(() => options.write(`${options.label}: ${progressLine(last, Date.now() - started)}`), options.intervalMs);
  timer.unref();
  return {
    progress(update) {
      last = update;
    },
    notice(message) {
      options.write(`${options.label}: ${message}`);
    },
    stop() {
      clearInterval(timer);
    },
  };
}
