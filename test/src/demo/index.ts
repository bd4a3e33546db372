// `npm start`: the end-to-end demo on the embedded default (no KVM needed).
import { detectionDemo } from './detection.js';
import { kvmDemo } from './kvm.js';
import { patchingDemo } from './patching.js';
import { questionsDemo } from './questions.js';
import { transportsDemo } from './transports.js';

export interface DemoSection {
  readonly title: string;
  run(): string[] | Promise<string[]>;
}

export const DEMO_SECTIONS: readonly DemoSection[] = [
  { title: 'detection', run: detectionDemo },
  { title: 'patching', run: patchingDemo },
  { title: 'transports', run: transportsDemo },
  { title: 'questions', run: questionsDemo },
  { title: 'kvm', run: kvmDemo },
];
