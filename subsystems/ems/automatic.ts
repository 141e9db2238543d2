import type { Logger } from 'winston';
import type { Bus, Delivery } from '../../core/bus.js';
import { SEVERITIES, type LogEntry, type MissionLog, type Severity } from './missionLog.js';

/**
 * The mission log's automatic entries: a workflow that ended, an alert raised or cleared. Each comes
 * from a durable event and carries its id, so a redelivery makes no second entry. A failed
 * workflow is written from `workflow.failed`, which has the reason; its `workflow.finished`
 * makes none. Returns the function that unsubscribes.
 */
export function recordEventsInMissionLog(bus: Bus, missionLog: MissionLog, log: Logger): () => void {
  const record = async (topic: string, d: Delivery, entry: LogEntry) => {
    const id = await missionLog.appendForEvent(d.eventid, { ...entry, message: entry.message.slice(0, 4000) });
    if (id === undefined) log.debug(`mission log: event ${d.eventid} (${topic}) was recorded before`, { eventid: d.eventid, topic });
  };
  const off = [
    bus.subscribe('workflow.finished', 'ems.missionLog', (e, d) =>
      e.status === 'FAILED'
        ? undefined
        : record('workflow.finished', d, { severity: e.status === 'CANCELLED' ? 'WARNING' : 'INFO', subsystem: 'rms', message: `workflow ${e.name} (${e.workflowid}) ended ${e.status}`, workflowid: e.workflowid }),
    ),
    bus.subscribe('workflow.failed', 'ems.missionLog', (e, d) =>
      record('workflow.failed', d, { severity: 'ERROR', subsystem: 'rms', message: `workflow ${e.name} (${e.workflowid}) FAILED: ${e.reason}`, workflowid: e.workflowid }),
    ),
    bus.subscribe('alert.raised', 'ems.missionLog', (e, d) =>
      record('alert.raised', d, {
        severity: SEVERITIES.includes(e.severity as Severity) ? (e.severity as Severity) : 'WARNING',
        subsystem: e.subsystem,
        message: `alert ${e.code} (${e.alertid}): ${e.message}`,
        workflowid: e.workflowid,
        jobid: e.jobid,
        nodeid: e.nodeid,
        transferid: e.transferid,
      }),
    ),
    bus.subscribe('alert.cleared', 'ems.missionLog', (e, d) =>
      record('alert.cleared', d, { severity: 'INFO', subsystem: e.subsystem, message: `alert ${e.code} (${e.alertid}) cleared: ${e.message}` }),
    ),
  ];
  return () => off.forEach((f) => f());
}
