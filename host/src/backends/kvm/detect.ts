// Which KVM this is: hardware-assisted (vmx/svm in the CPU flags, kvm_intel/kvm_amd loaded) or a software
// implementation such as kvm_pvm, on which VMCALL/VMMCALL never complete (KVM_RUN does not return).
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import type { Vendor } from '../../cpu/types.js';

export type KvmBackendKind = 'hardware' | 'pvm' | 'unknown';

export interface KvmBackendInfo {
  /** /dev/kvm exists and is read/writable. */
  readonly present: boolean;
  readonly kind: KvmBackendKind;
  readonly vendor: Vendor;
  /** Does a guest VMCALL/VMMCALL come back from KVM_RUN? false on kvm_pvm. */
  readonly hypercallsComplete: boolean;
  /** Human-readable: why absent, or what was found (for SKIP messages). */
  readonly reason: string;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function detectKvmBackend(): KvmBackendInfo {
  const cpuinfo = read('/proc/cpuinfo');
  const vendor: Vendor = /vendor_id\s*:\s*AuthenticAMD/.test(cpuinfo) ? 'amd' : 'intel';
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1]?.split(/\s+/) ?? [];
  const vmx = flags.includes('vmx') || flags.includes('svm');
  const pvm = existsSync('/sys/module/kvm_pvm');
  const hw = existsSync('/sys/module/kvm_intel') || existsSync('/sys/module/kvm_amd');
  let present = true;
  let why = '';
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch (e) {
    present = false;
    why = `/dev/kvm is missing or not read/writable (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  const kind: KvmBackendKind = pvm ? 'pvm' : hw && vmx ? 'hardware' : 'unknown';
  const desc = kind === 'pvm'
    ? 'software KVM (kvm_pvm module, no vmx/svm CPU flag): VMCALL/VMMCALL never complete'
    : kind === 'hardware' ? `hardware KVM (${flags.includes('vmx') ? 'vmx' : 'svm'})` : 'KVM of unknown kind';
  return { present, kind, vendor, hypercallsComplete: kind === 'hardware', reason: present ? desc : why };
}
