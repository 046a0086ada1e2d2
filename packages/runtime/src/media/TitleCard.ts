/**
 * Title and scene cards: 1280×720 PNG images drawn from SVG by sharp (librsvg, Pango and fontconfig), for the
 * offline thumbnail and render providers. A card's colours come from a seed (a channel id), so a channel keeps
 * one look; the same card always gives the same bytes on the same machine.
 *
 * **Gotchas**
 *
 * - Text is drawn with the fonts fontconfig finds (DejaVu Sans first). Scripts that no installed font covers
 *   (Japanese on a machine without a CJK font) render as boxes, and the bytes of a card depend on the installed
 *   fonts, so they are the same from run to run on one machine, not across machines.
 * - Lines are wrapped by an estimate of glyph widths, not by measuring; a title too long for the card is cut
 *   with an ellipsis.
 *
 * @since 0.1.0
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { Context, Effect, FileSystem, Layer, Path, Schema } from "effect"
import { writeFileAtomically } from "../internal/atomicFile.ts"
import { InvalidMediaInput, MediaError } from "./MediaError.ts"

/**
 * The size of every card, in pixels: 720p.
 *
 * @category constants
 */
export const size = { width: 1280, height: 720 } as const

/**
 * A video's title card: the title (wrapped to at most three lines), a subtitle such as the channel's niche, and
 * the seed its colours derive from.
 *
 * @category models
 */
export interface TitleCardSpec {
  readonly _tag: "TitleCard"
  readonly title: string
  readonly subtitle?: string | undefined
  readonly seed: string
}

/**
 * One scene's card: the scene's text (wrapped to at most six lines), its position (`index` from 1 of `total`),
 * an optional caption along the bottom (the video's title), and the seed its colours derive from.
 *
 * @category models
 */
export interface SceneCardSpec {
  readonly _tag: "SceneCard"
  readonly text: string
  readonly index: number
  readonly total: number
  readonly caption?: string | undefined
  readonly seed: string
}

/**
 * A card to draw.
 *
 * @category models
 */
export type Card = TitleCardSpec | SceneCardSpec

/**
 * A title card.
 *
 * @category constructors
 */
export const title = (options: Omit<TitleCardSpec, "_tag">): TitleCardSpec => ({ _tag: "TitleCard", ...options })

/**
 * A scene card.
 *
 * @category constructors
 */
export const scene = (options: Omit<SceneCardSpec, "_tag">): SceneCardSpec => ({ _tag: "SceneCard", ...options })

/**
 * A card that was written: its path, its size in bytes and its dimensions.
 *
 * @category models
 */
export class RenderedCard extends Schema.Class<RenderedCard>("@ytempire/runtime/media/TitleCard/RenderedCard")({
  path: Schema.String,
  bytes: Schema.Int,
  width: Schema.Int,
  height: Schema.Int
}) {}

/**
 * Draws cards with sharp.
 *
 * @category services
 */
export class TitleCard extends Context.Service<TitleCard, {
  /** The card as PNG bytes. */
  readonly render: (card: Card) => Effect.Effect<Uint8Array, MediaError>
  /** Draws the card into a PNG file at `output`, written atomically. */
  readonly write: (card: Card, output: string) => Effect.Effect<RenderedCard, InvalidMediaInput | MediaError>
}>()("@ytempire/runtime/media/TitleCard") {
  /**
   * Cards drawn by sharp, which is loaded when the layer is built. Needs a FileSystem and a Path.
   *
   * @category layers
   */
  static readonly layerNoDeps: Layer.Layer<TitleCard, MediaError, FileSystem.FileSystem | Path.Path> = Layer.effect(
    TitleCard,
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const sharp = yield* Effect.tryPromise({
        try: () => import("sharp"),
        catch: (cause) => new MediaError({ tool: "sharp", message: "could not load sharp", cause })
      }).pipe(Effect.map((module) => module.default))

      const render = Effect.fn("TitleCard.render")(function*(card: Card) {
        yield* Effect.annotateCurrentSpan({ card: card._tag, seed: card.seed })
        const svg = toSvg(card)
        const png = yield* Effect.tryPromise({
          try: () => sharp(Buffer.from(svg, "utf8")).removeAlpha().png().toBuffer(),
          catch: (cause) => new MediaError({ tool: "sharp", message: "sharp could not draw the card", cause })
        })
        return new Uint8Array(png.buffer, png.byteOffset, png.byteLength)
      })

      const write = Effect.fn("TitleCard.write")(function*(card: Card, output: string) {
        if (path.extname(output).toLowerCase() !== ".png") {
          return yield* new InvalidMediaInput({ field: "output", message: "a card is written as a .png file" })
        }
        const png = yield* render(card)
        yield* writeFileAtomically(output, png).pipe(
          Effect.provideService(FileSystem.FileSystem, fs),
          Effect.provideService(Path.Path, path)
        )
        return new RenderedCard({ path: output, bytes: png.byteLength, width: size.width, height: size.height })
      })

      return TitleCard.of({ render, write })
    })
  )

  /**
   * Cards with Node's file system.
   *
   * @category layers
   */
  static readonly layer: Layer.Layer<TitleCard, MediaError> = TitleCard.layerNoDeps.pipe(
    Layer.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer))
  )
}

// -----------------------------------------------------------------------------
// SVG
// -----------------------------------------------------------------------------

/**
 * The SVG document of a card: what `render` rasterises. Pure and deterministic.
 *
 * @category utils
 */
export const toSvg = (card: Card): string => {
  const colours = palette(card.seed)
  const body = card._tag === "TitleCard" ? titleBody(card, colours) : sceneBody(card, colours)
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size.width}" height="${size.height}"`,
    ` viewBox="0 0 ${size.width} ${size.height}">`,
    `<defs><linearGradient id="bg" x1="${colours.from.x}" y1="${colours.from.y}" x2="${colours.to.x}"`,
    ` y2="${colours.to.y}"><stop offset="0" stop-color="${colours.start}"/>`,
    `<stop offset="1" stop-color="${colours.end}"/></linearGradient></defs>`,
    `<rect width="${size.width}" height="${size.height}" fill="url(#bg)"/>`,
    ...colours.circles.map((circle) =>
      `<circle cx="${circle.x}" cy="${circle.y}" r="${circle.r}" fill="#ffffff" fill-opacity="${circle.opacity}"/>`
    ),
    `<g font-family="${fontFamily}" fill="#ffffff">`,
    ...body,
    `</g></svg>`
  ].join("")
}

const fontFamily = "DejaVu Sans, Noto Sans, Noto Sans CJK JP, Noto Sans CJK SC, Noto Color Emoji, sans-serif"
const margin = 100
const textWidth = size.width - 2 * margin

const titleBody = (card: TitleCardSpec, colours: Palette): Array<string> => {
  const { fontSize, lines } = fit(card.title, [84, 72, 62, 54, 46], 3, true)
  const lineHeight = Math.round(fontSize * 1.2)
  // The block of title lines is centred a little above the middle, leaving room for the subtitle.
  const top = 330 - (lines.length * lineHeight) / 2
  const out = lines.map((line, i) =>
    text(line, { x: size.width / 2, y: Math.round(top + (i + 0.8) * lineHeight), fontSize, bold: true })
  )
  const barY = Math.round(top + lines.length * lineHeight + 28)
  out.push(`<rect x="${size.width / 2 - 90}" y="${barY}" width="180" height="8" rx="4" fill="${colours.accent}"/>`)
  if (card.subtitle !== undefined && card.subtitle.trim() !== "") {
    const [subtitle = ""] = fit(card.subtitle, [36], 1, false).lines
    out.push(text(subtitle, { x: size.width / 2, y: barY + 80, fontSize: 36, bold: false, opacity: 0.88 }))
  }
  return out
}

const sceneBody = (card: SceneCardSpec, colours: Palette): Array<string> => {
  const out = [
    `<rect x="${margin}" y="72" width="8" height="44" rx="4" fill="${colours.accent}"/>`,
    text(`${card.index} / ${card.total}`, { x: margin + 28, y: 108, fontSize: 34, bold: true, anchor: "start" })
  ]
  const { fontSize, lines } = fit(card.text, [56, 48, 42, 36], 6, false)
  const lineHeight = Math.round(fontSize * 1.3)
  const top = 380 - (lines.length * lineHeight) / 2
  lines.forEach((line, i) => {
    out.push(text(line, { x: size.width / 2, y: Math.round(top + (i + 0.8) * lineHeight), fontSize, bold: false }))
  })
  if (card.caption !== undefined && card.caption.trim() !== "") {
    const [caption = ""] = fit(card.caption, [28], 1, false).lines
    out.push(text(caption, { x: size.width / 2, y: 668, fontSize: 28, bold: false, opacity: 0.75 }))
  }
  return out
}

const text = (content: string, options: {
  readonly x: number
  readonly y: number
  readonly fontSize: number
  readonly bold: boolean
  readonly anchor?: "start" | "middle"
  readonly opacity?: number
}): string =>
  `<text x="${options.x}" y="${options.y}" font-size="${options.fontSize}"` +
  ` font-weight="${options.bold ? 700 : 400}" text-anchor="${options.anchor ?? "middle"}"` +
  (options.opacity === undefined ? "" : ` fill-opacity="${options.opacity}"`) +
  `>${escapeXml(content)}</text>`

/**
 * Text made safe for XML character data and attribute values: the five special characters escaped, the
 * characters XML 1.0 forbids (control characters, unpaired surrogates, U+FFFE, U+FFFF) dropped or replaced.
 *
 * @category utils
 */
export const escapeXml = (input: string): string => {
  let out = ""
  for (const char of input) {
    const code = char.codePointAt(0) ?? 0
    if (code >= 0xd800 && code <= 0xdfff) out += "\uFFFD"
    else if (code === 0xfffe || code === 0xffff) continue
    else if (code < 0x20) out += code === 0x09 || code === 0x0a || code === 0x0d ? " " : ""
    else if (char === "&") out += "&amp;"
    else if (char === "<") out += "&lt;"
    else if (char === ">") out += "&gt;"
    else if (char === "\"") out += "&quot;"
    else if (char === "'") out += "&apos;"
    else out += char
  }
  return out
}

// -----------------------------------------------------------------------------
// Wrapping
// -----------------------------------------------------------------------------

const segmenter = new Intl.Segmenter("en", { granularity: "grapheme" })
const ellipsis = "…"

// The estimated advance of a grapheme in ems for DejaVu Sans (bold is wider); wide (CJK, full-width) and
// emoji graphemes take a whole em.
const advance = (grapheme: string, bold: boolean): number => {
  const code = grapheme.codePointAt(0) ?? 0
  if (grapheme.length > 2 || isWide(code)) return 1
  if (grapheme === " ") return 0.32
  if ("il.,;:!|'`ıj".includes(grapheme)) return 0.3
  if ("frt()[]{}-\"".includes(grapheme)) return bold ? 0.48 : 0.42
  if ("mwMW@%".includes(grapheme)) return bold ? 1.05 : 0.95
  if (code >= 0x41 && code <= 0x5a) return bold ? 0.78 : 0.7
  return bold ? 0.68 : 0.62
}

const isWide = (code: number): boolean =>
  (code >= 0x1100 && code <= 0x115f) ||
  (code >= 0x2e80 && code <= 0xa4cf) ||
  (code >= 0xac00 && code <= 0xd7a3) ||
  (code >= 0xf900 && code <= 0xfaff) ||
  (code >= 0xfe30 && code <= 0xfe4f) ||
  (code >= 0xff00 && code <= 0xff60) ||
  (code >= 0xffe0 && code <= 0xffe6) ||
  (code >= 0x1f300 && code <= 0x1faff) ||
  (code >= 0x20000 && code <= 0x3fffd)

const graphemes = (input: string): Array<string> => Array.from(segmenter.segment(input), (part) => part.segment)

const widthOf = (input: string, fontSize: number, bold: boolean): number =>
  graphemes(input).reduce((sum, grapheme) => sum + advance(grapheme, bold), 0) * fontSize

interface Wrapped {
  readonly lines: Array<string>
  readonly overflow: boolean
}

// Greedy wrapping at spaces; a word wider than a line (or text without spaces, such as Japanese) is broken
// between graphemes. Past `maxLines`, the last line ends with an ellipsis.
const wrap = (input: string, fontSize: number, maxLines: number, bold: boolean): Wrapped => {
  const words = input.split(/\s+/).filter((word) => word !== "")
  const lines: Array<string> = []
  let line = ""
  const fits = (candidate: string) => widthOf(candidate, fontSize, bold) <= textWidth
  for (const word of words) {
    const joined = line === "" ? word : `${line} ${word}`
    if (fits(joined)) {
      line = joined
      continue
    }
    if (line !== "") lines.push(line)
    line = ""
    if (fits(word)) {
      line = word
      continue
    }
    for (const grapheme of graphemes(word)) {
      if (line !== "" && !fits(line + grapheme)) {
        lines.push(line)
        line = ""
      }
      line += grapheme
    }
  }
  if (line !== "") lines.push(line)
  if (lines.length <= maxLines) return { lines, overflow: false }
  const kept = lines.slice(0, maxLines)
  let last = kept[maxLines - 1] ?? ""
  const parts = graphemes(last)
  while (parts.length > 0 && !fits(parts.join("") + ellipsis)) parts.pop()
  last = parts.join("").trimEnd() + ellipsis
  kept[maxLines - 1] = last
  return { lines: kept, overflow: true }
}

// The largest of `fontSizes` at which the text fits in `maxLines`, or the smallest, cut with an ellipsis.
const fit = (
  input: string,
  fontSizes: ReadonlyArray<number>,
  maxLines: number,
  bold: boolean
): { readonly fontSize: number; readonly lines: Array<string> } => {
  let last = { fontSize: 0, lines: [] as Array<string> }
  for (const fontSize of fontSizes) {
    const wrapped = wrap(input, fontSize, maxLines, bold)
    last = { fontSize, lines: wrapped.lines }
    if (!wrapped.overflow) break
  }
  return last
}

// -----------------------------------------------------------------------------
// Colours
// -----------------------------------------------------------------------------

interface Palette {
  readonly start: string
  readonly end: string
  readonly accent: string
  readonly from: { readonly x: number; readonly y: number }
  readonly to: { readonly x: number; readonly y: number }
  readonly circles: ReadonlyArray<
    { readonly x: number; readonly y: number; readonly r: number; readonly opacity: number }
  >
}

// FNV-1a over the seed's UTF-8 bytes, then xorshift for further values: stable across versions and platforms.
const fnv1a = (input: string): number => {
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(input)) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash
}

const palette = (seed: string): Palette => {
  let state = fnv1a(seed) || 1
  const next = (): number => {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state
  }
  const hue = next() % 360
  const shift = 30 + (next() % 60)
  const saturation = 55 + (next() % 25)
  const lightness = 30 + (next() % 10)
  const direction = next() % 4
  const corners = [
    [{ x: 0, y: 0 }, { x: 1, y: 1 }],
    [{ x: 1, y: 0 }, { x: 0, y: 1 }],
    [{ x: 0, y: 0 }, { x: 0, y: 1 }],
    [{ x: 0, y: 0 }, { x: 1, y: 0 }]
  ] as const
  const [from, to] = corners[direction] ?? corners[0]
  const circles = [0, 1, 2].map(() => ({
    x: next() % size.width,
    y: next() % size.height,
    r: 120 + (next() % 260),
    opacity: (4 + (next() % 6)) / 100
  }))
  return {
    start: hsl(hue, saturation, lightness),
    end: hsl((hue + shift) % 360, saturation, Math.max(12, lightness - 14)),
    accent: hsl((hue + 180) % 360, 85, 62),
    from,
    to,
    circles
  }
}

// An HSL colour (degrees, percent, percent) as #rrggbb.
const hsl = (hue: number, saturation: number, lightness: number): string => {
  const s = saturation / 100
  const l = lightness / 100
  const a = s * Math.min(l, 1 - l)
  const channel = (n: number) => {
    const k = (n + hue / 30) % 12
    const value = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))
    return Math.round(value * 255).toString(16).padStart(2, "0")
  }
  return `#${channel(0)}${channel(8)}${channel(4)}`
}
