/**
 * Exit codes of the `signals` CLI (documented in the README). A user error prints
 * one clear line and exits with its code; only an unexpected bug prints a stack.
 */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  input: 3,
  shapeMismatch: 4,
  runIdMismatch: 5,
  notEnoughData: 6,
  nonFinite: 7,
  unavailable: 8,
  checksum: 9,
  notFound: 10,
  /** SIGINT/SIGTERM, and the stop did not finish within STOP_TIMEOUT_MS: the process ended anyway, unacked messages are redelivered. */
  uncleanStop: 11,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
