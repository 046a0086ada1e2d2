/**
 * A video's script: what the `script` stage produces and every later stage reads. The voice stage speaks the
 * narration (and is billed by its characters), the render stage splits the video's duration across the scenes
 * by their weights, and the upload stage sends the title, description, tags and language to YouTube, whose
 * limits the schema enforces so that an upload is never refused for its metadata:
 *
 * - title: at most 100 characters, without `<` or `>`;
 * - description: at most 5,000 bytes of UTF-8 (YouTube's API counts bytes, so this is also at most 5,000
 *   characters, and fewer where the text is not ASCII), without `<` or `>`;
 * - tags: at most 500 characters in total, counted as YouTube counts them: the commas between tags count, and
 *   a tag that contains a space counts two more for the quotation marks YouTube puts around it.
 *
 * **Gotchas**
 *
 * - Lengths are JavaScript string lengths (UTF-16 code units). An emoji counts 2 (or more) where YouTube may
 *   count 1, so the checks are, if anything, stricter than YouTube's.
 *
 * @since 0.1.0
 */
import { Channel } from "@ytempire/domain"
import { Schema } from "effect"

/**
 * YouTube's limits on a video's metadata.
 *
 * @category constants
 */
export const limits = {
  /** The longest title, in characters. */
  titleLength: 100,
  /** The longest description, in bytes of UTF-8. */
  descriptionBytes: 5_000,
  /** The longest list of tags, in characters as YouTube counts them (see {@link tagsLength}). */
  tagsLength: 500
} as const

const noAngleBrackets = (field: string) =>
  Schema.makeFilter((text: string) =>
    /[<>]/.test(text) ? `${field} must not contain "<" or ">" (YouTube refuses them)` : undefined
  )

/**
 * The number of bytes of `text` in UTF-8.
 *
 * @category utils
 */
export const utf8Length = (text: string): number => {
  let bytes = 0
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4
  }
  return bytes
}

/**
 * The length of a list of tags as YouTube counts it against its 500-character limit: each tag's length, two
 * more for a tag with a space (YouTube quotes it), and one for each comma between tags.
 *
 * @category utils
 */
export const tagsLength = (tags: ReadonlyArray<string>): number =>
  tags.reduce((total, tag) => total + tag.length + (/\s/.test(tag) ? 2 : 0), Math.max(0, tags.length - 1))

/**
 * A video title: trimmed, non-empty, at most 100 characters, without `<` or `>`.
 *
 * @category models
 */
export const Title = Schema.String.check(
  Schema.isTrimmed({ message: "title must not start or end with spaces" }),
  Schema.isNonEmpty({ message: "title must not be empty" }),
  Schema.isMaxLength(limits.titleLength, { message: `title must be at most ${limits.titleLength} characters` }),
  noAngleBrackets("title")
)

/**
 * A video description: at most 5,000 bytes of UTF-8, without `<` or `>`.
 *
 * @category models
 */
export const Description = Schema.String.check(
  Schema.makeFilter((text: string) => {
    const bytes = utf8Length(text)
    return bytes <= limits.descriptionBytes
      ? undefined
      : `description must be at most ${limits.descriptionBytes} bytes of UTF-8, not ${bytes}`
  }),
  noAngleBrackets("description")
)

/**
 * One tag: trimmed, non-empty, without `<`, `>`, `,` or `"` (a comma would split it, a quotation mark would
 * break YouTube's quoting).
 *
 * @category models
 */
export const Tag = Schema.String.check(
  Schema.isTrimmed({ message: "a tag must not start or end with spaces" }),
  Schema.isNonEmpty({ message: "a tag must not be empty" }),
  Schema.makeFilter((tag: string) =>
    /[<>,"]/.test(tag) ? `tag ${JSON.stringify(tag)} must not contain "<", ">", "," or a quotation mark` : undefined
  )
)

/**
 * A video's tags: distinct (ignoring case), at most 500 characters in total as YouTube counts them.
 *
 * @category models
 */
export const Tags = Schema.Array(Tag).check(
  Schema.makeFilter((tags: ReadonlyArray<string>) => {
    const seen = new Set<string>()
    for (const tag of tags) {
      const key = tag.toLowerCase()
      if (seen.has(key)) return `tag ${JSON.stringify(tag)} appears more than once`
      seen.add(key)
    }
    return undefined
  }),
  Schema.makeFilter((tags: ReadonlyArray<string>) => {
    const length = tagsLength(tags)
    return length <= limits.tagsLength
      ? undefined
      : `tags must be at most ${limits.tagsLength} characters in total (commas and quotes included), not ${length}`
  })
)

const Paragraph = Schema.String.check(
  Schema.isTrimmed({ message: "a paragraph must not start or end with spaces" }),
  Schema.isNonEmpty({ message: "a paragraph must not be empty" })
)

/**
 * One scene of the video: a heading (for its card), the text spoken over it, and its weight, a positive number:
 * the render stage gives each scene `weight / (sum of weights)` of the video's duration.
 *
 * @category models
 */
export class Scene extends Schema.Class<Scene>("@ytempire/runtime/Script/Scene")({
  heading: Schema.String.check(
    Schema.isTrimmed({ message: "a scene heading must not start or end with spaces" }),
    Schema.isNonEmpty({ message: "a scene heading must not be empty" })
  ),
  text: Paragraph,
  weight: Schema.Finite.check(Schema.isGreaterThan(0, { message: "a scene's weight must be positive" }))
}) {}

/**
 * A video's script: its YouTube metadata (title, description, tags), the BCP 47 language its text is written
 * in, the narration as paragraphs, and the scenes the video is cut into.
 *
 * @category models
 */
export class Script extends Schema.Class<Script>("@ytempire/runtime/Script/Script")({
  title: Title,
  description: Description,
  tags: Tags,
  language: Channel.Language,
  narration: Schema.Array(Paragraph).check(Schema.isNonEmpty({ message: "a narration needs a paragraph" })),
  scenes: Schema.Array(Scene).check(Schema.isNonEmpty({ message: "a script needs a scene" }))
}) {}

/**
 * The narration as one text: its paragraphs separated by blank lines (which a speech engine reads as pauses).
 *
 * @category utils
 */
export const narrationText = (script: Script): string => script.narration.join("\n\n")

/**
 * The number of characters of the narration (UTF-16 code units of {@link narrationText}, separators included):
 * what the voice stage is billed by.
 *
 * @category utils
 */
export const characters = (script: Script): number => narrationText(script).length
