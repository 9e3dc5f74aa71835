// Splits the VPS memory budget between services: every service gets its floor,
// the rest is shared by weight (water-filling around caps). Pure.

/** Share of the VPS RAM the containers may use; the rest is for the kernel, dockerd, sshd, page cache. */
export const CONTAINER_SHARE = 0.85;
const STEP_MIB = 8;

export interface MemoryDemand {
  name: string;
  floorMiB: number;
  weight: number;
  capMiB?: number;
  replicas: number;
}

export class VpsTooSmallError extends Error {
  constructor(
    readonly neededMiB: number,
    readonly budgetMiB: number,
    readonly minimumGiB: number,
  ) {
    super(`the chosen services need ${neededMiB} MiB but ${budgetMiB} MiB is available`);
  }
}

export function budgetMiB(vpsMemoryGiB: number): number {
  return Math.floor(vpsMemoryGiB * 1024 * CONTAINER_SHARE);
}

/** Smallest --vps-memory (in steps of 0.5 GiB) whose budget holds these floors. */
export function minimumVpsGiB(demands: readonly MemoryDemand[]): number {
  const needed = demands.reduce((sum, d) => sum + d.floorMiB * d.replicas, 0);
  let gib = Math.max(1, Math.ceil((needed / (1024 * CONTAINER_SHARE)) * 2) / 2);
  while (budgetMiB(gib) < needed) gib += 0.5;
  return gib;
}

/** Memory limit per replica, in MiB, keyed by service name. Sum over replicas ≤ budget. */
export function allocateMemory(demands: readonly MemoryDemand[], budget: number): Record<string, number> {
  const needed = demands.reduce((sum, d) => sum + d.floorMiB * d.replicas, 0);
  if (needed > budget) throw new VpsTooSmallError(needed, budget, minimumVpsGiB(demands));

  const share: Record<string, number> = Object.fromEntries(demands.map((d) => [d.name, d.floorMiB]));
  let open = demands.filter((d) => d.weight > 0 && (d.capMiB ?? Infinity) > d.floorMiB);
  let left = budget - needed;
  while (left > 0.5 && open.length > 0) {
    const totalWeight = open.reduce((sum, d) => sum + d.weight * d.replicas, 0);
    const perWeight = left / totalWeight;
    const capped = open.filter((d) => share[d.name] + perWeight * d.weight >= (d.capMiB ?? Infinity));
    if (capped.length === 0) {
      for (const d of open) share[d.name] += perWeight * d.weight;
      left = 0;
      break;
    }
    for (const d of capped) {
      left -= (d.capMiB! - share[d.name]) * d.replicas;
      share[d.name] = d.capMiB!;
    }
    open = open.filter((d) => !capped.includes(d));
  }
  // Round down to a tidy step, never below the floor: the sum can only shrink.
  return Object.fromEntries(
    demands.map((d) => [d.name, Math.max(d.floorMiB, Math.floor(share[d.name] / STEP_MIB) * STEP_MIB)]),
  );
}
