// Demo step: when /dev/kvm is here, the conformance cases real KVM can run are run on both backends and compared
// (registers, results, memory, console, device trace): the differential check of `pvkit conform --backend both`.
import { CASES } from '../conform/cases/index.js';
import { emulatorBackend } from '../conform/emulator.js';
import { isSoftwareKvm, kvmAvailability, kvmBackend, kvmSkipReason } from '../conform/kvm.js';
import { instances, runSuite } from '../conform/runner.js';

export async function kvmDemo(): Promise<string[]> {
  const avail = kvmAvailability();
  const head = 'Differential check against real KVM (/dev/kvm)';
  if (!avail.ok) return [head, `  skipped: ${avail.reason}`];
  const runnable = CASES.filter((c) => instances(c).some((e) => kvmSkipReason(c, e, c.machine(e)) === undefined));
  const results = await runSuite(runnable, [emulatorBackend, kvmBackend]);
  const onKvm = results.filter((r) => r.backend === 'kvm' && r.status !== 'SKIP');
  const failed = results.filter((r) => r.status === 'FAIL');
  return [
    head + (isSoftwareKvm() ? ' - software KVM (kvm_pvm): VMCALL/VMMCALL never complete, so hypercall cases skip' : ''),
    `  ${onKvm.length} case instances ran on the emulator and on KVM and were compared: ${failed.length === 0 ? 'no differences' : `${failed.length} DIFFERENCES`}`,
    ...failed.slice(0, 5).map((r) => `    ${r.id} (${r.backend}): ${r.reason ?? ''}`),
    `  (${runnable.length} of ${CASES.length} cases are ones real KVM can run: KVM's own leaves at 0x40000000, one vCPU, the host's vendor)`,
  ];
}
