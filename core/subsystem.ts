import type { Router } from 'express';
import type { Logger } from 'winston';
import type { Config } from '../config/schema.js';
import type { Role } from './actor.js';
import type { Bus } from './bus.js';
import type { Clock } from './clock.js';
import type { Db } from './db.js';

export const SUBSYSTEM_NAMES = ['ems', 'smas', 'dss', 'dts', 'rms', 'pfs', 'daas'] as const;
export type SubsystemName = (typeof SUBSYSTEM_NAMES)[number];
/** A subsystem's state (smas_subsystem.state). The migrations keep frozen copies of the list they wrote. */
export const SUBSYSTEM_STATES = ['STARTING', 'UP', 'DEGRADED', 'DOWN'] as const;
export type SubsystemState = (typeof SUBSYSTEM_STATES)[number];

/** What a running subsystem says of itself; DEGRADED carries the reason an operator reads. */
export interface Health {
  state: Extract<SubsystemState, 'UP' | 'DEGRADED'>;
  detail?: string;
}

/** A console page a subsystem serves, listed in the menu of every page. */
export interface Page {
  title: string;
  path: string;
  /** Shown in the menu only to users with this role (or above); the route checks it again. */
  role?: Role;
}

/** What every subsystem factory receives (ARCHITECTURE §3). */
export interface Context<Services = object> {
  config: Config;
  db: Db;
  log: Logger;
  bus: Bus;
  clock: Clock;
  /** This process's id in smas_process: who holds a claim, a lease, a job. */
  processId: string;
  /** The software version, recorded with every process, run and solution. */
  version: string;
  /** The public services of the subsystems this one needs. */
  services: Services;
}

export interface Subsystem<Service = unknown> {
  readonly name: SubsystemName;
  readonly service: Service;
  /** Mounted under /api/<name> (JSON) and /<name> (pages). */
  readonly api?: Router;
  readonly pages?: { router: Router; menu: Page[] };
  start(): Promise<void>;
  /** Finishes or hands back what is in flight within the grace time the server gives. */
  stop(): Promise<void>;
  health(): Promise<Health>;
}
