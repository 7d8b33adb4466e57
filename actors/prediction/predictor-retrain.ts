import type { Logger } from '../../config/index.ts';
import { publishJson, retrainCommandSchema, subjects, type JsPublisher, type RetrainCommand } from '../../streams/index.ts';
import type { FineTuneTrigger, HybridEngine, SymbolStatus } from './hybrid-engine.ts';

/** A `model.retrain.cmd` payload read: the command, or why it is ignored. */
export type ParsedRetrainCommand =
  | { ok: true; command: RetrainCommand }
  | { ok: false; reason: 'not_json' }
  | { ok: false; reason: 'invalid'; issues: string[] };

/** Reads a `model.retrain.cmd` payload through its schema. */
export function parseRetrainCommand(data: Uint8Array): ParsedRetrainCommand {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  const cmd = retrainCommandSchema.safeParse(raw);
  if (!cmd.success) return { ok: false, reason: 'invalid', issues: cmd.error.issues.map((i) => i.message) };
  return { ok: true, command: cmd.data };
}

/** True when the command names the symbol (an omitted venue or symbol matches every one). */
export function retrainMatches(command: Pick<RetrainCommand, 'venue' | 'symbol'>, status: Pick<SymbolStatus, 'venue' | 'symbol'>): boolean {
  return (command.symbol === undefined || status.symbol === command.symbol) && (command.venue === undefined || status.venue === command.venue);
}

export type RetrainJob = { trigger: FineTuneTrigger; requestId?: string };

export type RetrainListenerDeps = {
  engine: HybridEngine;
  js: JsPublisher;
  log: Logger;
  onTriggers: ((jobs: readonly RetrainJob[]) => void) | undefined;
};

/**
 * The `model.retrain.cmd` listener: fine-tune the named symbol(s) now; answered on
 * `model.retrain.result` by the fineTuner, or here at once when no symbol matches.
 */
export function createRetrainListener(deps: RetrainListenerDeps): (data: Uint8Array) => void {
  const { engine, js, log } = deps;
  return (data) => {
    const parsed = parseRetrainCommand(data);
    if (!parsed.ok) {
      if (parsed.reason === 'not_json') log.warn('model.retrain.cmd is not JSON; ignored');
      else log.warn({ issues: parsed.issues }, 'invalid model.retrain.cmd; ignored');
      return;
    }
    const { requestId, symbol, venue } = parsed.command;
    // One answer per request: the request id goes with the first symbol's job only.
    const jobs = engine
      .statuses()
      .filter((s) => retrainMatches(parsed.command, s))
      .flatMap((s, i) => {
        const trigger = engine.requestFineTune(s.venue, s.symbol, 'manual');
        return trigger ? [{ trigger, ...(i === 0 ? { requestId } : {}) }] : [];
      });
    if (jobs.length === 0) {
      publishJson(js, {
        subject: subjects.retrainResult,
        payload: { requestId, status: 'skipped', deployed: false, error: `no symbol with bars matches ${venue ?? '*'}.${symbol ?? '*'}` },
        msgId: `retrain-result:${requestId}`,
      }).catch((err: unknown) => log.warn({ err }, 'could not publish the retrain result'));
      return;
    }
    log.info({ requestId, symbols: jobs.map((j) => j.trigger.symbol) }, 'retrain requested');
    deps.onTriggers?.(jobs);
  };
}
