// The `kvm` backend slot. The KVM driver (host/src/backends/kvm, koffi + /dev/kvm) is being written separately;
// until it exists this backend reports SKIP with the reason rather than pretending. It also knows the
// software KVM on these machines (kvm_pvm: VMCALL/VMMCALL never complete, issue 7), so hypercall cases
// would be skipped on it even once the driver lands.
import { accessSync, constants, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Availability, Backend, CaseEnv, ConformCase } from './types.js';

const DRIVER_DIR = fileURLToPath(new URL('../../../host/src/backends/kvm', import.meta.url));

export function kvmAvailability(): Availability {
  if (!existsSync('/dev/kvm')) return { ok: false, reason: '/dev/kvm not present' };
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { ok: false, reason: '/dev/kvm not readable/writable by this user' };
  }
  if (!existsSync(DRIVER_DIR)) return { ok: false, reason: 'no KVM driver yet (host/src/backends/kvm is not in this checkout)' };
  return { ok: false, reason: 'host/src/backends/kvm exists but the conform adapter for it is not written yet' };
}

/** kvm_pvm is the software KVM: no VMX/SVM, hypercall exits never come back (issue 7, "Backends"). */
export function isSoftwareKvm(): boolean {
  return existsSync('/sys/module/kvm_pvm');
}

/** Groups whose programs execute VMCALL/VMMCALL. */
const HYPERCALL_GROUPS = new Set(['hypercall', 'patching', 'hcpage', 'mmio-hypercall', 'fallback', 'faults']);

export const kvmBackend: Backend = {
  name: 'kvm',
  available: kvmAvailability,
  skipReason(c: ConformCase, _env: CaseEnv) {
    if (isSoftwareKvm() && (c.needs?.includes('hypercall-exits') || c.groups.some((g) => HYPERCALL_GROUPS.has(g)))) {
      return 'software KVM (kvm_pvm): VMCALL/VMMCALL never complete';
    }
    return undefined;
  },
  run() {
    throw new Error(kvmAvailability().ok ? 'unreachable' : 'kvm backend unavailable');
  },
};
