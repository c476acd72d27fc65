// pino, JSON lines. Secrets never reach a log line: the access log is built from named
// fields (never from whole headers), and the redact list is a second line of defence
// for anything logged as an object.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'ztproxy' },
      redact: {
        paths: ['*.authorization', '*.cookie', '*.token', '*.password', '*.clientSecret', '*.keys', 'headers'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
