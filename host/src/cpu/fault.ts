// Internal control flow of the engine: faults and exits raised while an instruction executes. They never
// leave the host: Vcpu.run() catches them and turns them into typed exits (host/src/exits.ts).
import type { Exit } from '../exits.js';

/** An x86 exception raised by an instruction (fault semantics: RIP stays at the instruction). */
export class Fault {
  constructor(
    readonly vector: number,
    readonly message: string,
    readonly errorCode?: number,
    readonly address?: bigint,
    /** RIP to report when it differs from the current instruction (e.g. #PF fetching a jump target). */
    readonly rip?: bigint,
  ) {}
}

/** An exit that needs the caller's answer before the instruction can finish (IoIn, MmioRead, Cpuid, Rdmsr). */
export class NeedCompletion {
  constructor(readonly exit: Exit) {}
}

/** #GP(0) (SDM Vol. 3A 6.15 interrupt 13). */
export function gp(message: string, address?: bigint): Fault {
  return new Fault(13, message, 0, address);
}

/** #UD (SDM Vol. 3A 6.15 interrupt 6). */
export function ud(message: string): Fault {
  return new Fault(6, message);
}
