// Feeds KVM exits into an IoRouter (the same IoBusRouter + devices the emulator uses) and optional MSR hooks,
// re-entering the guest until an exit nobody answers, as the emulator's Vm.run does inside the vCPU.
import type { IoRouter } from '../../bus/types.js';
import type { Exit } from '../../exits.js';
import type { HypervisorHooks } from '../../cpu/types.js';
import type { KvmVcpu } from './vcpu.js';

export interface KvmRouteOptions {
  router?: IoRouter;
  /** Only rdmsr/wrmsr are consulted (CPUID and hypercalls are answered by KVM itself). */
  hooks?: Pick<HypervisorHooks, 'rdmsr' | 'wrmsr'>;
  /** Wall-clock bound for the whole call (default 1000 ms). */
  timeoutMs?: number;
  /** Receives every exit, handled or not, in order. */
  trace?: (e: Exit, handled: boolean) => void;
}

/** Run `vcpu` until an exit the router/hooks do not handle (returned), or the timeout (BudgetExhausted). */
export function runWithRouter(vcpu: KvmVcpu, opts: KvmRouteOptions = {}): Exit {
  const { router, hooks, trace } = opts;
  const deadline = performance.now() + (opts.timeoutMs ?? 1000);
  vcpu.armTimer(deadline);
  try {
    for (;;) {
      const e = vcpu.runArmed(deadline);
      const handled = handle(vcpu, e, router, hooks);
      trace?.(e, handled);
      if (!handled) return e;
    }
  } finally {
    vcpu.disarmTimer();
  }
}

function handle(vcpu: KvmVcpu, e: Exit, router: IoRouter | undefined, hooks: KvmRouteOptions['hooks']): boolean {
  switch (e.kind) {
    case 'IoOut': {
      if (router === undefined) return false;
      if (!router.pioWrite(e.port, e.size, e.value)) return false;
      // String OUT (OUTS with REP): KVM may hand over several elements in one exit (kvm_pvm here gives one per exit).
      for (const v of vcpu.lastIoValues) router.pioWrite(e.port, e.size, v);
      return true;
    }
    case 'IoIn': {
      const v = router?.pioRead(e.port, e.size);
      if (v === undefined) return false;
      vcpu.completeIoIn(v);
      return true;
    }
    case 'MmioWrite':
      return router?.mmioWrite(e.gpa, e.size, e.value) ?? false;
    case 'MmioRead': {
      const v = router?.mmioRead(e.gpa, e.size);
      if (v === undefined) return false;
      vcpu.completeMmioRead(v);
      return true;
    }
    case 'Rdmsr': {
      const v = hooks?.rdmsr?.(vcpu, e.index);
      if (v === undefined) return false;
      vcpu.completeRdmsr(v);
      return true;
    }
    case 'Wrmsr': {
      const r = hooks?.wrmsr?.(vcpu, e.index, e.value);
      if (r === undefined) return false;
      vcpu.completeWrmsr(r);
      return true;
    }
    default:
      return false;
  }
}
