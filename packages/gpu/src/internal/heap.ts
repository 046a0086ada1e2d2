/**
 * A binary min-heap over an array, ordered by a comparison function.
 *
 * @internal
 */
export class Heap<A> {
  private readonly items: Array<A> = []
  private readonly less: (a: A, b: A) => boolean

  constructor(less: (a: A, b: A) => boolean) {
    this.less = less
  }

  get size(): number {
    return this.items.length
  }

  /** Keeps only the items that pass `keep`, in heap order again. */
  retain(keep: (item: A) => boolean): void {
    const kept = this.items.filter(keep)
    this.items.length = 0
    for (const item of kept) this.push(item)
  }

  peek(): A | undefined {
    return this.items[0]
  }

  push(item: A): void {
    const items = this.items
    items.push(item)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(items[i]!, items[parent]!)) break
      const swap = items[i]!
      items[i] = items[parent]!
      items[parent] = swap
      i = parent
    }
  }

  pop(): A | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length > 0 && last !== undefined) {
      items[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let smallest = i
        if (l < items.length && this.less(items[l]!, items[smallest]!)) smallest = l
        if (r < items.length && this.less(items[r]!, items[smallest]!)) smallest = r
        if (smallest === i) break
        const swap = items[i]!
        items[i] = items[smallest]!
        items[smallest] = swap
        i = smallest
      }
    }
    return top
  }
}
