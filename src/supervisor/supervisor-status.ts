import type { Reloads } from '../reporting/pid-file.js';
import type { StatusReporter } from '../reporting/status.js';
import { NO_RELOADS, recordReload } from './core/describe.js';
import type { WorkerAction } from './core/events.js';
import { pidFileReport, systemdNote, type ProcessFacts, type SystemdNote } from './core/report.js';
import type { WorkerTable } from './core/table.js';

/*
 * What `grace run` writes to the pid file and tells systemd, carried out:
 * what to say is core/report.ts's, from the table and the processes' facts.
 * The pid file is rewritten after a step whenever what it says changed (a
 * tick, a --watch debounce moved, says nothing new: no write), from the first
 * launch until a stop; systemd hears the step's notes after it, so
 * a `grace reload` that sees READY=1's effect also sees the file. The
 * reloads' history is kept here, each stamped as it is carried out.
 */
export class SupervisorStatus {
  private notes: SystemdNote[] = [];
  private reloads: Reloads = NO_RELOADS;
  /** What the pid file was last told. */
  private said: string | undefined;

  constructor(
    private readonly reporter: StatusReporter,
    private readonly facts: () => ProcessFacts,
  ) {}

  /** An action of the step under way: what systemd will hear once it is over. */
  note(action: WorkerAction, t: WorkerTable): void {
    this.reloads = recordReload(this.reloads, action, Date.now());
    const note = systemdNote(action, t);
    if (note) this.notes.push(note);
  }

  /**
   * A step is over: the pid file says where the table is (`grace status` and
   * `grace reload` find the supervisor while nothing serves yet, state
   * `starting`, and during a crash loop), then systemd hears the notes.
   */
  tell(t: WorkerTable): void {
    if (t.phase !== 'stopping') {
      const report = pidFileReport(t, { ...this.facts(), reloads: this.reloads });
      // Written only when it says something new: a file rewritten in a directory --watch watches would be a change.
      const said = JSON.stringify(report);
      if (said !== this.said) {
        this.said = said;
        this.reporter.record(report.state, report.generation, report.serving, report.extra);
      }
    }
    for (const note of this.notes.splice(0)) {
      if (note.say === 'ready') void this.reporter.notifyReady(note.status);
      else if (note.say === 'reloading') this.reporter.notifyReloading();
      else this.reporter.stopping();
    }
  }
}
