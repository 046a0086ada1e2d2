/**
 * The VRAM scheduler's decisions, as a pure synchronous state machine: which waiting job goes next, on which
 * device, and what each device holds. The `Scheduler` service (real time, fibers, scopes) and the simulator
 * (virtual time, a discrete-event loop) both drive this one class, so the policy that the simulator measures is
 * the code that the service runs.
 *
 * Three policies share the bookkeeping (leases, model residency, eviction, invariants):
 * - `ytempire`: priority classes with aging, weighted fair share across channels, model affinity, best fit,
 *   compute packing and a reservation that keeps a blocked job from starving;
 * - `first-fit`: arrival order, each job on the first device where it fits, skipping jobs that do not fit;
 * - `fifo`: arrival order, one job per device at a time, the queue blocked by its head.
 *
 * **Order (ytempire).** A job waits at a level, its class's rank at first (critical 0 … low 3), one level more
 * urgent every `agingSeconds` it waits, so a low job ranks with critical ones after `3 × agingSeconds`. Within a
 * level, channels share by start-time fair queueing: when a job is submitted it gets the tag `max(V, F[channel])`,
 * where `V` is the largest tag granted so far and `F[channel]` advances by `estimatedSeconds / weight` per job of
 * the channel, so a channel with 50 jobs waiting interleaves with one that has 1 instead of going first. The tag
 * stays with the job when it moves up a level: a job that aged into a level goes before those submitted after it
 * (ties go to the older job). The queue order is `(level, tag, id)`.
 *
 * **Placement (ytempire).** The first job in that order that fits somewhere goes, so smaller jobs pass a job that
 * does not fit (backfilling). It fits on a healthy device when its VRAM fits beside the leases (idle models are
 * evicted for it), its encoder sessions fit, and, for a job without encoder sessions, its computeShare fits
 * beside what the device's jobs draw (encoder-bound jobs counted at the share the engines leave them) or the
 * device runs no other such job. Among the devices where it fits: one where it runs at full speed (no shared
 * encoder engines, no compute past 1) first, then one where its model is loaded and idle, then one that needs
 * no eviction, then the best fit on free VRAM, then the lower index. A job whose model would have to be loaded
 * yields to a job of the same level within `affinityWindowSeconds` of fair-share tag whose model is idle on a
 * device where it fits (grouping same-model jobs). When the first job in the queue has waited
 * `reserveAfterSeconds` and still does not fit, one device is reserved for it: nothing is placed there that
 * would take what it lacks, so it starts at the latest when that device's running jobs end. The reservation
 * follows the first job: one that ages ahead of it takes it over.
 *
 * **Model residency and eviction.** When a lease with a `modelKey` ends, its memory stays taken as an idle copy
 * of the model on that device. A later job of that model takes it without loading (its lease holds the larger
 * of the two sizes); any job that needs the room evicts idle copies on its device, least recently used first.
 * Copies in use are never evicted; an `unavailable` device loses its copies.
 *
 * **Invariant**: on every device, leases plus idle copies ≤ `usableMiB`, and encoder sessions leased ≤
 * `encoderSessions`, after every step; a violation throws (a defect), as does releasing a lease twice.
 *
 * **When to use**: the `Scheduler` service is what GPU stages use; this core is for driving the same policy
 * elsewhere: the simulator, benchmarks, tests, another runtime.
 *
 * **Gotchas**
 * - Not thread-safe and not re-entrant: each step changes the state in one go. Callbacks (`onGrant`, the
 *   listener) run inside a step and must not call back into the core.
 * - Time is whatever the caller passes as `now` (seconds); it must not go backwards.
 * - Aging and reservations advance at steps only: without releases or submissions, call `tick`.
 *
 * @since 0.1.0
 */
import { Priority } from "@ytempire/domain"
import type { Gpu, GpuJobSpec } from "@ytempire/domain"
import type { GpuDevice } from "./Device.ts"
import { type FitNode, FitTree, isBefore, type Room } from "./internal/fitTree.ts"
import { Heap } from "./internal/heap.ts"

// ---------------------------------------------------------------------------------------------------------------
// models

/**
 * Which rules decide: ours, or one of the two baselines the simulator compares with.
 *
 * @category models
 */
export type Policy = "ytempire" | "first-fit" | "fifo"

/**
 * The core's settings; see {@link defaultOptions}.
 *
 * @category models
 */
export interface CoreOptions {
  readonly policy: Policy
  /** Seconds of waiting that move a job one priority level up. */
  readonly agingSeconds: number
  /** Jobs that may wait at once; more are refused. */
  readonly maxQueued: number
  /** Seconds the first job in the queue waits before a device is reserved for it. */
  readonly reserveAfterSeconds: number
  /** How far (in fair-share seconds) a job with a loaded model may pass one that must load its model. */
  readonly affinityWindowSeconds: number
  /** A channel's weight in the fair share (1 by default). */
  readonly channelWeight: (channel: string) => number
  /** Nodes a search may visit per device and decision. */
  readonly searchBudget: number
}

/**
 * The defaults: 5 minutes per aging step (a low job ranks as critical after 15), no queue limit.
 *
 * @category constants
 */
export const defaultOptions: CoreOptions = {
  policy: "ytempire",
  agingSeconds: 300,
  maxQueued: Number.POSITIVE_INFINITY,
  reserveAfterSeconds: 300,
  affinityWindowSeconds: 60,
  channelWeight: () => 1,
  searchBudget: 4096
}

/**
 * A job waiting for, or holding, a lease.
 *
 * @category models
 */
export interface Ticket extends FitNode {
  readonly id: number
  readonly spec: GpuJobSpec.GpuJobSpec
  readonly rank: number
  readonly channel: string
  readonly submittedAt: number
  readonly encoder: boolean
  state: "queued" | "granted" | "cancelled"
  /** Changes whenever the ticket's place in the order changes (lazy heaps compare it). */
  version: number
  onGrant: ((lease: CoreLease) => void) | undefined
  lease: CoreLease | undefined
}

/** An idle copy of a model, kept loaded on a device after its lease ended. */
interface IdleModel {
  readonly modelKey: string
  readonly sizeMiB: number
}

/**
 * A device and what it holds.
 *
 * @category models
 */
export interface DeviceState {
  readonly device: GpuDevice
  health: Gpu.GpuHealth
  /** VRAM held by leases. */
  activeMiB: number
  /** VRAM held by idle model copies (evictable). */
  idleMiB: number
  sessions: number
  leases: number
  nonEncoderLeases: number
  computeNonEncoder: number
  computeEncoder: number
  /** Idle model copies, least recently used first. */
  readonly idle: Array<IdleModel>
  readonly modelsInUse: Map<string, number>
  peakResidentMiB: number
  modelLoads: number
}

/**
 * A lease: `heldMiB` is what it holds on the device (at least `vramMiB`; more when it took a larger copy).
 *
 * @category models
 */
export interface CoreLease {
  readonly id: number
  readonly ticket: Ticket
  readonly device: DeviceState
  readonly vramMiB: number
  readonly heldMiB: number
  readonly encoderSessions: number
  readonly modelKey: string | undefined
  /** The job's model was not loaded on the device: it pays `modelLoadSeconds` first. */
  readonly loadsModel: boolean
  readonly grantedAt: number
  released: boolean
}

/**
 * What `submit` answers: a lease now, a ticket that waits, or a refusal.
 *
 * @category models
 */
export type SubmitResult =
  | { readonly _tag: "Granted"; readonly lease: CoreLease }
  | { readonly _tag: "Queued"; readonly ticket: Ticket }
  | {
    readonly _tag: "TooLarge"
    readonly largestUsableMiB: number
    readonly encoderSessionLimit: number | undefined
  }
  | { readonly _tag: "QueueFull"; readonly queued: number; readonly limit: number }

/**
 * Told of every grant and release, inside the step that makes it.
 *
 * @category models
 */
export interface CoreListener {
  readonly granted: (lease: CoreLease, waitSeconds: number) => void
  readonly released: (lease: CoreLease, heldSeconds: number) => void
}

const EPSILON = 1e-9

interface Promotion {
  readonly at: number
  readonly ticket: Ticket
  readonly version: number
}

interface ModelEntry {
  readonly ticket: Ticket
  readonly version: number
  readonly k0: number
  readonly k1: number
  readonly k2: number
}

interface Reservation {
  readonly ticket: Ticket
  readonly device: DeviceState
}

const acceptAll = () => true

const entryBefore = (a: ModelEntry, b: ModelEntry): boolean =>
  a.k0 < b.k0 || (a.k0 === b.k0 && (a.k1 < b.k1 || (a.k1 === b.k1 && a.k2 < b.k2)))

/**
 * The compute a device's jobs draw at full speed: encoder jobs scaled down by the engines they share, so that
 * renders waiting on NVENC leave the rest of the GPU to others.
 *
 * @category utils
 */
export const computeLoad = (d: DeviceState): number => {
  const engines = d.device.encoderEngines
  const encoderFactor = d.sessions > engines ? engines / d.sessions : 1
  return d.computeNonEncoder + d.computeEncoder * encoderFactor
}

// ---------------------------------------------------------------------------------------------------------------
// the core

/**
 * The scheduler: devices, the queue, the leases, and the rules of one policy.
 *
 * @category constructors
 */
export class SchedulerCore {
  readonly options: CoreOptions
  readonly devices: ReadonlyArray<DeviceState>
  private readonly listener: CoreListener | undefined
  /** Jobs without encoder sessions, and jobs with them: searched apart so the pruning stays exact. */
  private readonly plainJobs = new FitTree<Ticket>(0x2545f491)
  private readonly encoderJobs = new FitTree<Ticket>(0x9e3779b9)
  private readonly promotions = new Heap<Promotion>((a, b) =>
    a.at < b.at || (a.at === b.at && a.ticket.id < b.ticket.id)
  )
  private readonly byModel = new Map<string, Heap<ModelEntry>>()
  private virtualTime = 0
  private readonly finishTags = new Map<string, number>()
  private readonly queuedByRank = [0, 0, 0, 0]
  private reservation: Reservation | undefined = undefined
  private nextTicketId = 1
  private nextLeaseId = 1
  private readonly largestUsableMiB: number
  /** Leases granted and released, for checks. */
  granted = 0
  released = 0

  constructor(devices: ReadonlyArray<GpuDevice>, options: Partial<CoreOptions> = {}, listener?: CoreListener) {
    this.options = { ...defaultOptions, ...options }
    if (!(this.options.agingSeconds > 0)) throw new Error("agingSeconds must be positive")
    this.listener = listener
    this.devices = devices.map((device) => ({
      device,
      health: "healthy",
      activeMiB: 0,
      idleMiB: 0,
      sessions: 0,
      leases: 0,
      nonEncoderLeases: 0,
      computeNonEncoder: 0,
      computeEncoder: 0,
      idle: [],
      modelsInUse: new Map(),
      peakResidentMiB: 0,
      modelLoads: 0
    }))
    this.largestUsableMiB = devices.reduce((max, device) => Math.max(max, device.usableMiB), 0)
  }

  /** Jobs waiting. */
  get queued(): number {
    return this.plainJobs.size + this.encoderJobs.size
  }

  /** Jobs waiting per priority class rank (0 critical … 3 low). */
  get queuedPerRank(): ReadonlyArray<number> {
    return this.queuedByRank
  }

  // -------------------------------------------------------------------------------------------------------------
  // steps

  /**
   * A new request: refused at once when no device could ever hold it or the queue is full; granted now when it
   * fits and nothing ahead of it does; queued otherwise, `onGrant` being called when it is granted later.
   */
  submit(
    spec: GpuJobSpec.GpuJobSpec,
    channel: string,
    now: number,
    onGrant?: (lease: CoreLease) => void
  ): SubmitResult {
    const vramMiB = spec.vramMiB
    const sessions = spec.encoderSessions
    if (!this.devices.some((d) => d.device.usableMiB >= vramMiB && d.device.encoderSessions >= sessions)) {
      const roomy = this.devices.filter((d) => d.device.usableMiB >= vramMiB)
      return {
        _tag: "TooLarge",
        largestUsableMiB: this.largestUsableMiB,
        encoderSessionLimit: sessions > 0 && roomy.length > 0
          ? roomy.reduce((max, d) => Math.max(max, d.device.encoderSessions), 0)
          : undefined
      }
    }
    if (this.queued >= this.options.maxQueued) {
      return { _tag: "QueueFull", queued: this.queued, limit: this.options.maxQueued }
    }
    const rank = Priority.rank(spec.priority)
    const id = this.nextTicketId++
    const ytempire = this.options.policy === "ytempire"
    const ticket: Ticket = {
      id,
      spec,
      rank,
      channel,
      submittedAt: now,
      encoder: sessions > 0,
      vramMiB,
      encoderSessions: sessions,
      computeShare: spec.computeShare,
      k0: ytempire ? rank : 0,
      k1: ytempire ? this.fairTag(channel, spec.estimatedSeconds) : 0,
      k2: id,
      left: null,
      right: null,
      priority: 0,
      minVram: 0,
      minSessions: 0,
      minCompute: 0,
      state: "queued",
      version: 0,
      onGrant,
      lease: undefined
    }
    this.enqueue(ticket)
    if (ytempire && rank > 0) {
      this.promotions.push({ at: now + this.options.agingSeconds, ticket, version: ticket.version })
    }
    this.schedule(now)
    return ticket.lease !== undefined ? { _tag: "Granted", lease: ticket.lease } : { _tag: "Queued", ticket }
  }

  /**
   * The requester gave up (interrupted, timed out): a waiting ticket leaves the queue; a granted one releases its
   * lease, which closes the race between a grant and an interruption. Answers whether it released a lease.
   */
  cancel(ticket: Ticket, now: number): boolean {
    if (ticket.state === "queued") {
      this.dequeue(ticket)
      ticket.state = "cancelled"
      if (this.reservation?.ticket === ticket) this.reservation = undefined
      this.schedule(now)
      return false
    }
    if (ticket.state === "granted" && ticket.lease !== undefined && !ticket.lease.released) {
      this.release(ticket.lease, now)
      return true
    }
    return false
  }

  /** A lease ends: its memory and sessions go back (its model stays loaded, idle), and waiting jobs may go. */
  release(lease: CoreLease, now: number): void {
    if (lease.released) throw new Error(`GPU lease ${lease.id} released twice`)
    lease.released = true
    this.released++
    const d = lease.device
    d.activeMiB -= lease.heldMiB
    d.sessions -= lease.encoderSessions
    d.leases--
    if (lease.ticket.encoder) d.computeEncoder -= lease.ticket.computeShare
    else {
      d.nonEncoderLeases--
      d.computeNonEncoder -= lease.ticket.computeShare
    }
    if (d.leases === 0) {
      // Sums of fractions drift; an empty device draws exactly nothing.
      d.computeEncoder = 0
      d.computeNonEncoder = 0
    }
    if (lease.modelKey !== undefined) {
      const inUse = (d.modelsInUse.get(lease.modelKey) ?? 1) - 1
      if (inUse === 0) d.modelsInUse.delete(lease.modelKey)
      else d.modelsInUse.set(lease.modelKey, inUse)
      if (d.health !== "unavailable") {
        d.idle.push({ modelKey: lease.modelKey, sizeMiB: lease.heldMiB })
        d.idleMiB += lease.heldMiB
      }
    }
    this.listener?.released(lease, now - lease.grantedAt)
    this.schedule(now)
  }

  /** A device's health changes: only `healthy` devices take new leases; an `unavailable` one loses idle models. */
  setHealth(deviceId: string, health: Gpu.GpuHealth, now: number): boolean {
    const d = this.devices.find((state) => state.device.id === deviceId)
    if (d === undefined) return false
    d.health = health
    if (health === "unavailable") {
      d.idle.length = 0
      d.idleMiB = 0
    }
    if (this.reservation?.device === d && health !== "healthy") this.reservation = undefined
    this.schedule(now)
    return true
  }

  /** Applies what time alone changes (aging, reservations) and grants what now fits. */
  tick(now: number): void {
    this.schedule(now)
  }

  // -------------------------------------------------------------------------------------------------------------
  // the queue

  private treeOf(ticket: Ticket): FitTree<Ticket> {
    return ticket.encoder ? this.encoderJobs : this.plainJobs
  }

  private enqueue(ticket: Ticket): void {
    this.treeOf(ticket).insert(ticket)
    this.queuedByRank[ticket.rank]!++
    const modelKey = ticket.spec.modelKey
    if (modelKey !== undefined && this.options.policy === "ytempire") this.indexModel(modelKey, ticket)
  }

  private dequeue(ticket: Ticket): void {
    this.treeOf(ticket).remove(ticket)
    this.queuedByRank[ticket.rank]!--
  }

  private indexModel(modelKey: string, ticket: Ticket): void {
    let heap = this.byModel.get(modelKey)
    if (heap === undefined) {
      heap = new Heap(entryBefore)
      this.byModel.set(modelKey, heap)
    }
    heap.push({ ticket, version: ticket.version, k0: ticket.k0, k1: ticket.k1, k2: ticket.k2 })
    // Entries go stale when their job is granted, cancelled or promoted; they are dropped lazily when the heap
    // is read, and here once they outnumber the live ones, so a model whose heap is rarely read cannot grow it.
    if (heap.size > 64 && heap.size > 4 * this.queued) {
      heap.retain((entry) => entry.ticket.state === "queued" && entry.version === entry.ticket.version)
    }
  }

  /** The first waiting job of a model, in queue order. */
  private firstOfModel(modelKey: string): Ticket | undefined {
    const heap = this.byModel.get(modelKey)
    if (heap === undefined) return undefined
    for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
      if (top.ticket.state === "queued" && top.version === top.ticket.version) return top.ticket
      heap.pop()
    }
    this.byModel.delete(modelKey)
    return undefined
  }

  /** Start-time fair queueing across channels: the job's tag, and its channel's clock advanced past it. */
  private fairTag(channel: string, estimatedSeconds: number): number {
    const start = Math.max(this.virtualTime, this.finishTags.get(channel) ?? Number.NEGATIVE_INFINITY)
    this.finishTags.set(channel, start + estimatedSeconds / Math.max(EPSILON, this.options.channelWeight(channel)))
    return start
  }

  private promote(now: number): void {
    const aging = this.options.agingSeconds
    for (let top = this.promotions.peek(); top !== undefined && top.at <= now; top = this.promotions.peek()) {
      this.promotions.pop()
      const ticket = top.ticket
      if (ticket.state !== "queued" || ticket.version !== top.version) continue
      const tree = this.treeOf(ticket)
      tree.remove(ticket)
      ticket.k0 = ticket.k0 - 1
      ticket.version++
      tree.insert(ticket)
      if (ticket.spec.modelKey !== undefined) this.indexModel(ticket.spec.modelKey, ticket)
      if (ticket.k0 > 0) this.promotions.push({ at: top.at + aging, ticket, version: ticket.version })
    }
  }

  /** The first waiting job, in queue order. */
  private head(): Ticket | undefined {
    const a = this.plainJobs.first()
    const b = this.encoderJobs.first()
    if (a === undefined) return b
    if (b === undefined) return a
    return isBefore(a, b) ? a : b
  }

  // -------------------------------------------------------------------------------------------------------------
  // fitting

  /** The room a healthy device offers a new job; a reserved device keeps back what its job lacks. */
  private roomOf(d: DeviceState, computeRule: boolean): Room | undefined {
    if (d.health !== "healthy") return undefined
    let vramMiB = d.device.usableMiB - d.activeMiB
    let encoderSessions = d.device.encoderSessions - d.sessions
    let computeShare = !computeRule || d.nonEncoderLeases === 0
      ? Number.POSITIVE_INFINITY
      : 1 + EPSILON - computeLoad(d)
    const reserved = this.reservation
    if (reserved !== undefined && reserved.device === d) {
      const held = reserved.ticket
      if (held.vramMiB > vramMiB) return undefined
      vramMiB -= held.vramMiB
      if (held.encoder) encoderSessions -= held.encoderSessions
      else computeShare = -1
    }
    return { vramMiB, encoderSessions, computeShare }
  }

  /** Whether a job fits on a device as it is, reservations aside. */
  private fitsNow(ticket: Ticket, d: DeviceState, computeRule: boolean): boolean {
    if (d.health !== "healthy") return false
    if (ticket.vramMiB > d.device.usableMiB - d.activeMiB) return false
    if (ticket.encoderSessions > d.device.encoderSessions - d.sessions) return false
    if (computeRule && !ticket.encoder && d.nonEncoderLeases > 0) {
      return computeLoad(d) + ticket.computeShare <= 1 + EPSILON
    }
    return true
  }

  private fitsRoom(ticket: Ticket, room: Room): boolean {
    return ticket.vramMiB <= room.vramMiB && ticket.encoderSessions <= room.encoderSessions &&
      (ticket.encoder || ticket.computeShare <= room.computeShare)
  }

  private hasIdle(d: DeviceState, modelKey: string | undefined): boolean {
    if (modelKey === undefined) return false
    for (const copy of d.idle) if (copy.modelKey === modelKey) return true
    return false
  }

  /** The first job in queue order that fits on `d` (within `room`), from both trees. */
  private firstFitting(room: Room): Ticket | undefined {
    const budget = this.options.searchBudget
    const plain = this.plainJobs.findFirst({ ...room, encoderSessions: Number.POSITIVE_INFINITY }, acceptAll, budget)
    const encoder = this.encoderJobs.findFirst({ ...room, computeShare: Number.POSITIVE_INFINITY }, acceptAll, budget)
    if (plain === undefined) return encoder
    if (encoder === undefined) return plain
    return isBefore(plain, encoder) ? plain : encoder
  }

  // -------------------------------------------------------------------------------------------------------------
  // deciding

  private schedule(now: number): void {
    const policy = this.options.policy
    if (policy === "ytempire") this.promote(now)
    for (;;) {
      const pick = policy === "fifo" ? this.pickFifo() : policy === "first-fit" ? this.pickFirstFit() : this.pick()
      if (pick === undefined) break
      this.grant(pick.ticket, pick.device, now)
    }
    if (policy === "ytempire") this.reserve(now)
  }

  private pickFifo(): Reservation | undefined {
    const head = this.head()
    if (head === undefined) return undefined
    for (const d of this.devices) {
      if (d.leases === 0 && this.fitsNow(head, d, false)) return { ticket: head, device: d }
    }
    return undefined
  }

  private pickFirstFit(): Reservation | undefined {
    let best: Ticket | undefined
    for (const d of this.devices) {
      const room = this.roomOf(d, false)
      if (room === undefined) continue
      const found = this.firstFitting(room)
      if (found !== undefined && (best === undefined || isBefore(found, best))) best = found
    }
    if (best === undefined) return undefined
    for (const d of this.devices) if (this.fitsNow(best, d, false)) return { ticket: best, device: d }
    return undefined
  }

  private pick(): Reservation | undefined {
    const reserved = this.reservation
    if (reserved !== undefined) {
      // A reservation protects the first job in the queue only: one that aging or a cancel put ahead of it
      // goes first, and gets the reservation in its turn.
      if (reserved.ticket !== this.head() || reserved.device.health !== "healthy") this.reservation = undefined
      else if (this.fitsNow(reserved.ticket, reserved.device, true)) return reserved
    }
    let best: Ticket | undefined
    const found: Array<Ticket | undefined> = []
    for (const d of this.devices) {
      const room = this.roomOf(d, true)
      const ticket = room === undefined ? undefined : this.firstFitting(room)
      found.push(ticket)
      if (ticket !== undefined && (best === undefined || isBefore(ticket, best))) best = ticket
    }
    if (best === undefined) return undefined
    const places = this.devices.filter((_, i) => found[i] === best)
    const modelKey = best.spec.modelKey
    if (modelKey !== undefined && !places.some((d) => this.hasIdle(d, modelKey))) {
      const warm = this.warmAlternative(best)
      if (warm !== undefined) return warm
    }
    return { ticket: best, device: this.place(best, places) }
  }

  /**
   * A job of the same level as `best`, within the affinity window of its tag, whose model is idle on a device
   * where it fits: it goes first, sparing a load (grouping same-model jobs).
   */
  private warmAlternative(best: Ticket): Reservation | undefined {
    let choice: Reservation | undefined
    const limit = best.k1 + this.options.affinityWindowSeconds
    for (const d of this.devices) {
      if (d.idle.length === 0) continue
      const room = this.roomOf(d, true)
      if (room === undefined) continue
      const seen = new Set<string>()
      for (const copy of d.idle) {
        if (seen.has(copy.modelKey)) continue
        seen.add(copy.modelKey)
        const ticket = this.firstOfModel(copy.modelKey)
        if (
          ticket !== undefined && ticket.k0 === best.k0 && ticket.k1 <= limit && this.fitsRoom(ticket, room) &&
          (choice === undefined || isBefore(ticket, choice.ticket))
        ) choice = { ticket, device: d }
      }
    }
    return choice
  }

  /** Where a job goes among the devices where it fits (ytempire's order of preference; see the module doc). */
  private place(ticket: Ticket, places: ReadonlyArray<DeviceState>): DeviceState {
    let best = places[0]!
    let bestScore = this.score(ticket, best)
    for (let i = 1; i < places.length; i++) {
      const d = places[i]!
      const score = this.score(ticket, d)
      if (lexicographicallyLess(score, bestScore)) {
        best = d
        bestScore = score
      }
    }
    return best
  }

  private score(ticket: Ticket, d: DeviceState): ReadonlyArray<number> {
    const load = computeLoad(d)
    const shared = ticket.encoder
      ? d.sessions + ticket.encoderSessions > d.device.encoderEngines || load + ticket.computeShare > 1 + EPSILON
      : load + ticket.computeShare > 1 + EPSILON
    const warm = this.hasIdle(d, ticket.spec.modelKey)
    const free = d.device.usableMiB - d.activeMiB - d.idleMiB
    const evicts = ticket.vramMiB > free && !warm
    const leftover = evicts ? d.device.usableMiB - d.activeMiB - ticket.vramMiB : free - ticket.vramMiB
    return [shared ? 1 : 0, warm ? 0 : 1, evicts ? 1 : 0, leftover, d.device.index]
  }

  private grant(ticket: Ticket, d: DeviceState, now: number): void {
    this.dequeue(ticket)
    ticket.state = "granted"
    const modelKey = ticket.spec.modelKey
    let heldMiB = ticket.vramMiB
    let loadsModel = modelKey !== undefined
    if (modelKey !== undefined) {
      for (let i = d.idle.length - 1; i >= 0; i--) {
        const copy = d.idle[i]!
        if (copy.modelKey !== modelKey) continue
        d.idle.splice(i, 1)
        d.idleMiB -= copy.sizeMiB
        heldMiB = Math.max(heldMiB, copy.sizeMiB)
        loadsModel = false
        break
      }
    }
    const usable = d.device.usableMiB
    while (d.activeMiB + d.idleMiB + heldMiB > usable && d.idle.length > 0) {
      d.idleMiB -= d.idle.shift()!.sizeMiB
    }
    if (d.activeMiB + d.idleMiB + heldMiB > usable) {
      throw new Error(
        `GPU over-commit on ${d.device.id}: ${d.activeMiB} MiB leased + ${heldMiB} MiB > ${usable} MiB usable`
      )
    }
    if (d.sessions + ticket.encoderSessions > d.device.encoderSessions) {
      throw new Error(`GPU encoder over-commit on ${d.device.id}`)
    }
    d.activeMiB += heldMiB
    d.sessions += ticket.encoderSessions
    d.leases++
    if (ticket.encoder) d.computeEncoder += ticket.computeShare
    else {
      d.nonEncoderLeases++
      d.computeNonEncoder += ticket.computeShare
    }
    if (d.activeMiB + d.idleMiB > d.peakResidentMiB) d.peakResidentMiB = d.activeMiB + d.idleMiB
    if (modelKey !== undefined) d.modelsInUse.set(modelKey, (d.modelsInUse.get(modelKey) ?? 0) + 1)
    if (loadsModel) d.modelLoads++
    if (this.options.policy === "ytempire" && ticket.k1 > this.virtualTime) this.virtualTime = ticket.k1
    if (this.reservation?.ticket === ticket) this.reservation = undefined
    const lease: CoreLease = {
      id: this.nextLeaseId++,
      ticket,
      device: d,
      vramMiB: ticket.vramMiB,
      heldMiB,
      encoderSessions: ticket.encoderSessions,
      modelKey,
      loadsModel,
      grantedAt: now,
      released: false
    }
    ticket.lease = lease
    this.granted++
    this.listener?.granted(lease, now - ticket.submittedAt)
    ticket.onGrant?.(lease)
  }

  /** Reserves a device for the first job in the queue once it has waited `reserveAfterSeconds` without fitting. */
  private reserve(now: number): void {
    if (this.reservation !== undefined) return
    const head = this.head()
    if (head === undefined || now - head.submittedAt < this.options.reserveAfterSeconds) return
    let choice: DeviceState | undefined
    for (const d of this.devices) {
      if (
        d.health !== "healthy" || d.device.usableMiB < head.vramMiB ||
        d.device.encoderSessions < head.encoderSessions
      ) continue
      if (
        choice === undefined || d.device.usableMiB - d.activeMiB > choice.device.usableMiB - choice.activeMiB ||
        (d.device.usableMiB - d.activeMiB === choice.device.usableMiB - choice.activeMiB &&
          d.sessions < choice.sessions)
      ) choice = d
    }
    if (choice !== undefined) this.reservation = { ticket: head, device: choice }
  }

  // -------------------------------------------------------------------------------------------------------------
  // reading

  /** The device reserved for a blocked job, if any (for tests and status). */
  get reserved(): { readonly ticketId: number; readonly deviceId: string } | undefined {
    const r = this.reservation
    return r === undefined ? undefined : { ticketId: r.ticket.id, deviceId: r.device.device.id }
  }

  /** The models loaded on a device, in use or idle, sorted. */
  loadedModels(d: DeviceState): ReadonlyArray<string> {
    const keys = new Set<string>(d.modelsInUse.keys())
    for (const copy of d.idle) keys.add(copy.modelKey)
    return [...keys].toSorted()
  }
}

const lexicographicallyLess = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): boolean => {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]!
  }
  return false
}
