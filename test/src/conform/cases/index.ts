// The whole case table, in report order.
import type { ConformCase } from '../types.js';
import { ABI_FACTS_CASES } from './abi-facts.js';
import { C_DRIVER_CASES } from './c-drivers.js';
import { DEVICE_CASES } from './devices.js';
import { HYPERCALL_C } from './hypercall-c.js';
import { MIGRATION_CASES } from './migration.js';
import { NESTED_CASES } from './nested.js';
import { PORT_FORM_CASES } from './port-forms.js';
import { SMP_CASES } from './smp.js';
import { STUB_MATRIX } from './stubs-matrix.js';

export const CASES: readonly ConformCase[] = [...STUB_MATRIX, ...HYPERCALL_C, ...ABI_FACTS_CASES, ...DEVICE_CASES, ...PORT_FORM_CASES, ...C_DRIVER_CASES, ...MIGRATION_CASES, ...SMP_CASES, ...NESTED_CASES];
