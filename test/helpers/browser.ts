import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { projectRoot } from '../../server/paths.js';
import { needs } from './env.js';

/** Debian's Chromium: the browser tests never download one. */
export const CHROMIUM = '/usr/bin/chromium';

/** The flags that keep a headless Chromium off the network and quiet on a CI machine. */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Whether Chromium is here; under CI=true its absence fails the test instead. */
export function hasChromium(): boolean {
  return needs('Chromium (/usr/bin/chromium, Debian package chromium)', existsSync(CHROMIUM));
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
}

/** Where a browser run saves its screenshots, kept after the run for a person to look at. */
export function screenshotPath(name: string): string {
  const dir = join(projectRoot, 'test-results', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.png`);
}
