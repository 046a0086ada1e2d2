/**
 * An ordered set of waiting jobs that answers "the first job, in queue order, that fits in this much room" in
 * about O(log n): a treap (a binary search tree balanced by random priorities) whose nodes are the jobs
 * themselves, each node also holding the smallest VRAM, encoder sessions and compute share in its subtree, so
 * that a search skips every subtree in which nothing can fit.
 *
 * The pruning is exact for one resource at a time and only necessary for several (a subtree may hold a small
 * job and a cool job but no job both small and cool), so a search also stops after a number of visited nodes:
 * a job it did not reach waits for the next decision, which is a missed chance, never an over-commit.
 *
 * @internal
 */

/**
 * A node: the queue order is `(k0, k1, k2)` ascending; `vramMiB`, `encoderSessions` and `computeShare` are
 * what the job needs.
 */
export interface FitNode {
  k0: number
  k1: number
  k2: number
  readonly vramMiB: number
  readonly encoderSessions: number
  readonly computeShare: number
  left: FitNode | null
  right: FitNode | null
  priority: number
  minVram: number
  minSessions: number
  minCompute: number
}

/** The room on one device: what a job may take at most of each resource. */
export interface Room {
  readonly vramMiB: number
  readonly encoderSessions: number
  readonly computeShare: number
}

const before = (a: FitNode, b: FitNode): boolean =>
  a.k0 < b.k0 || (a.k0 === b.k0 && (a.k1 < b.k1 || (a.k1 === b.k1 && a.k2 < b.k2)))

const pull = (node: FitNode): void => {
  let v = node.vramMiB
  let s = node.encoderSessions
  let c = node.computeShare
  const { left, right } = node
  if (left !== null) {
    if (left.minVram < v) v = left.minVram
    if (left.minSessions < s) s = left.minSessions
    if (left.minCompute < c) c = left.minCompute
  }
  if (right !== null) {
    if (right.minVram < v) v = right.minVram
    if (right.minSessions < s) s = right.minSessions
    if (right.minCompute < c) c = right.minCompute
  }
  node.minVram = v
  node.minSessions = s
  node.minCompute = c
}

/** Splits `root` into the nodes ordered before `pivot` and the rest. */
const split = (root: FitNode | null, pivot: FitNode): [FitNode | null, FitNode | null] => {
  if (root === null) return [null, null]
  if (before(root, pivot)) {
    const [l, r] = split(root.right, pivot)
    root.right = l
    pull(root)
    return [root, r]
  }
  const [l, r] = split(root.left, pivot)
  root.left = r
  pull(root)
  return [l, root]
}

/** Joins two trees, every node of `a` ordered before every node of `b`. */
const merge = (a: FitNode | null, b: FitNode | null): FitNode | null => {
  if (a === null) return b
  if (b === null) return a
  if (a.priority > b.priority) {
    a.right = merge(a.right, b)
    pull(a)
    return a
  }
  b.left = merge(a, b.left)
  pull(b)
  return b
}

const insertInto = (root: FitNode | null, node: FitNode): FitNode => {
  if (root === null) {
    pull(node)
    return node
  }
  if (node.priority > root.priority) {
    const [l, r] = split(root, node)
    node.left = l
    node.right = r
    pull(node)
    return node
  }
  if (before(node, root)) root.left = insertInto(root.left, node)
  else root.right = insertInto(root.right, node)
  pull(root)
  return root
}

const removeFrom = (root: FitNode | null, node: FitNode): FitNode | null => {
  if (root === null) return null
  if (root === node) {
    const joined = merge(node.left, node.right)
    node.left = null
    node.right = null
    return joined
  }
  if (before(node, root)) root.left = removeFrom(root.left, node)
  else root.right = removeFrom(root.right, node)
  pull(root)
  return root
}

/**
 * The tree. Keys must not change while a node is in it: remove, change, insert.
 */
export class FitTree<N extends FitNode> {
  private root: FitNode | null = null
  private seed: number
  size = 0

  constructor(seed = 0x9e3779b9) {
    this.seed = seed >>> 0 || 1
  }

  /** A deterministic xorshift draw, so runs repeat exactly. */
  private nextPriority(): number {
    let x = this.seed
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    this.seed = x
    return x
  }

  insert(node: N): void {
    node.left = null
    node.right = null
    node.priority = this.nextPriority()
    this.root = insertInto(this.root, node)
    this.size++
  }

  remove(node: N): void {
    this.root = removeFrom(this.root, node)
    this.size--
  }

  /** The first node in queue order, if any. */
  first(): N | undefined {
    let node = this.root
    if (node === null) return undefined
    while (node.left !== null) node = node.left
    return node as N
  }

  /**
   * The first node in queue order that fits in `room` and passes `accept`, visiting at most `budget` nodes.
   * `accept` sees only nodes within `room` on all three resources.
   */
  findFirst(room: Room, accept: (node: N) => boolean, budget: number): N | undefined {
    let visits = budget
    const visit = (node: FitNode | null): N | undefined => {
      if (
        node === null || visits <= 0 || node.minVram > room.vramMiB || node.minSessions > room.encoderSessions ||
        node.minCompute > room.computeShare
      ) return undefined
      visits--
      const left = visit(node.left)
      if (left !== undefined) return left
      if (
        node.vramMiB <= room.vramMiB && node.encoderSessions <= room.encoderSessions &&
        node.computeShare <= room.computeShare && accept(node as N)
      ) return node as N
      return visit(node.right)
    }
    return visit(this.root)
  }
}

/** Whether `a` comes before `b` in queue order. */
export const isBefore = (a: FitNode, b: FitNode): boolean => before(a, b)
