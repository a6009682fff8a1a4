import type { Reloads } from '../reporting/pid-file.js';
import type { StatusReporter } from '../reporting/status.js';
import { NO_RELOADS, recordReload } from './core/describe.js';
import type { WorkerAction } from './core/events.js';
import { pidFileReport, systemdNote, type ProcessFacts, type SystemdNote } from './core/report.js';
import type { WorkerTable } from './core/table.js';

/*
 * What `grace run` writes to the pid file and tells systemd, carried out:
 * what to say is core/report.ts's, from the table and the processes' facts.
 * The pid file is rewritten after every step that changed the table, from
 * the first launch until a stop; systemd hears the step's notes after it, so
 * a `grace reload` that sees READY=1's effect also sees the file. The
 * reloads' history is kept here, each stamped as it is carried out.
 */
export class SupervisorStatus {
  private notes: SystemdNote[] = [];
  private reloads: Reloads = NO_RELOADS;

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
  tell(t: WorkerTable, changed: boolean): void {
    if (changed && t.phase !== 'stopping') {
      const { state, generation, serving, extra } = pidFileReport(t, { ...this.facts(), reloads: this.reloads });
      this.reporter.record(state, generation, serving, extra);
    }
    for (const note of this.notes.splice(0)) {
      if (note.say === 'ready') void this.reporter.notifyReady(note.status);
      else if (note.say === 'reloading') this.reporter.notifyReloading();
      else this.reporter.stopping();
    }
  }
}
