import { assert, describe, expect, it } from "@effect/vitest"
import { Channel, Ids, Money, Pricing } from "@ytempire/domain"
import { LocalScriptWriter, Script } from "@ytempire/runtime"
import { DateTime, Effect, Schema } from "effect"

const epoch = DateTime.makeUnsafe(0)

const channel = (
  settings: { readonly niche?: string; readonly style?: string; readonly language?: string; readonly name?: string } =
    {}
) =>
  new Channel.Channel({
    id: Ids.ChannelId.make("ch-curious-minds"),
    tenantId: Ids.TenantId.make("tenant-1"),
    name: settings.name ?? "Curious Minds",
    niche: settings.niche ?? "space science",
    language: settings.language ?? "en",
    style: settings.style ?? "upbeat explainer",
    status: "active",
    createdAt: epoch,
    updatedAt: epoch
  })

const videoId = Ids.VideoId.make("video-0001")
const topic = "why octopuses have three hearts"

const compose = (
  input: { readonly channel?: Channel.Channel; readonly topic?: string; readonly videoId?: Ids.VideoId } = {},
  options?: LocalScriptWriter.Options
) =>
  LocalScriptWriter.compose(
    { channel: input.channel ?? channel(), topic: input.topic ?? topic, videoId: input.videoId ?? videoId },
    options
  )

const words = (text: string) => text.split(/\s+/).filter((word) => word.length > 0).length

const styles = ["upbeat explainer", "calm documentary", "listicle", "Top 5 countdown", "dry and factual"]
const languagesUnderTest = ["en", "en-GB", "de", "es-MX", "fr"]

// Three hundred characters of capitalised words (nothing for title case to change), one of hundreds of emoji and
// markup, one word of three hundred letters.
const longTopic = Array.from({ length: 60 }, (_, index) => `Word${String(index).padStart(3, "0")}`).join(" ")
  .slice(0, 300)
const hostileTopics = {
  long: longTopic,
  markup: "🚀 Rockets <script>alert(\"x\")</script> & \"fuel\" 🔥👩‍🚀🇩🇪 <b>bold</b> & more",
  oneWord: "Pneumono".repeat(38).slice(0, 300),
  emojiOnly: "🚀🔥🌕",
  // Longer than any request allows (300 characters), so that the description must be cut, in bytes.
  huge: "Éléphants d’Afrique ".repeat(400).trim(),
  blank: "   ",
  controls: "tab\there\u0000and\u001bescape<>"
}

// What breaks YouTube's limits, checked directly (not only through the schema under test); empty when nothing.
const limitViolations = (script: Script.Script): Array<string> => {
  const violations: Array<string> = []
  const check = (ok: boolean, what: string) => {
    if (!ok) violations.push(what)
  }
  check(script.title.length <= 100, `title of ${script.title.length} characters`)
  check(script.title.trim().length > 0, "empty title")
  check(!/[<>]/.test(script.title), `"<" or ">" in the title ${script.title}`)
  const descriptionBytes = new TextEncoder().encode(script.description).byteLength
  check(descriptionBytes <= 5_000, `description of ${descriptionBytes} bytes`)
  check(!/[<>]/.test(script.description), "\"<\" or \">\" in the description")
  const tagLength = script.tags.reduce((sum, tag) => sum + tag.length + (tag.includes(" ") ? 2 : 0), 0) +
    Math.max(0, script.tags.length - 1)
  check(tagLength <= 500, `tags of ${tagLength} characters`)
  check(new Set(script.tags.map((tag) => tag.toLowerCase())).size === script.tags.length, "a repeated tag")
  for (const tag of script.tags) {
    check(tag === tag.toLowerCase(), `tag ${tag} is not lowercase`)
    check(!/[<>,"]/.test(tag), `tag ${tag} has "<", ">", "," or a quotation mark`)
  }
  // And the script decodes against its own schema, to itself.
  const encoded = Schema.encodeSync(Script.Script)(script)
  const decoded = Schema.decodeUnknownResult(Script.Script)(JSON.parse(JSON.stringify(encoded)))
  check(
    decoded._tag === "Success" &&
      JSON.stringify(Schema.encodeSync(Script.Script)(decoded.success)) === JSON.stringify(encoded),
    "does not round-trip through its schema"
  )
  return violations
}

const longWords = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, index) => `${prefix}${index}`.padEnd(28, "x")).join(" ")

describe("LocalScriptWriter", () => {
  it("is the local-tier provider named local-script-writer", () => {
    expect(LocalScriptWriter.name).toBe("local-script-writer")
    expect(LocalScriptWriter.tier).toBe("local")
    assert.isTrue(Schema.is(Pricing.PriceKey)("compute.cpu-hour"))
  })

  describe("determinism", () => {
    it("writes the same script for the same channel, topic and video id", () => {
      expect(compose()).toEqual(compose())
      const german = channel({ language: "de", style: "ruhige Doku" })
      expect(compose({ channel: german })).toEqual(compose({ channel: german }))
    })

    it.effect("writes the same script through the Effect API", () =>
      Effect.gen(function*() {
        const input = { channel: channel(), topic, videoId }
        const first = yield* LocalScriptWriter.write(input)
        const second = yield* LocalScriptWriter.write(input)
        expect(first.script).toEqual(second.script)
        expect(first.script).toEqual(LocalScriptWriter.compose(input))
      }))

    it("writes a different script for a different topic, video id or style", () => {
      const base = compose()
      expect(compose({ topic: "how black holes evaporate" })).not.toEqual(base)
      expect(compose({ videoId: Ids.VideoId.make("video-0002") })).not.toEqual(base)
      expect(compose({ channel: channel({ style: "calm documentary" }) })).not.toEqual(base)
      // Across many video ids the same topic gives many different narrations, not a handful.
      const narrations = new Set(
        Array.from(
          { length: 40 },
          (_, index) => Script.narrationText(compose({ videoId: Ids.VideoId.make(`video-${index}`) }))
        )
      )
      assert.isAtLeast(narrations.size, 30)
    })
  })

  describe("the schema", () => {
    it("round-trips a written script through encode, JSON and decode", () => {
      for (const style of styles) {
        for (const language of languagesUnderTest) {
          const script = compose({ channel: channel({ style, language }) })
          const encoded = Schema.encodeSync(Script.Script)(script)
          const decoded = Schema.decodeUnknownSync(Script.Script)(JSON.parse(JSON.stringify(encoded)))
          expect(decoded).toEqual(script)
          assert.instanceOf(decoded, Script.Script)
          assert.instanceOf(decoded.scenes[0], Script.Scene)
        }
      }
    })

    it("refuses metadata that YouTube would refuse", () => {
      const encoded = Schema.encodeSync(Script.Script)(compose())
      const decode = Schema.decodeUnknownResult(Script.Script)
      const refused = (patch: Record<string, unknown>) => {
        const result = decode({ ...encoded, ...patch })
        assert.isTrue(result._tag === "Failure", `expected ${JSON.stringify(patch).slice(0, 80)} to be refused`)
      }
      refused({ title: "x".repeat(101) })
      refused({ title: "" })
      refused({ title: "a <b> title" })
      refused({ description: "é".repeat(2_501) }) // 2,501 characters, 5,002 bytes
      refused({ description: "<script>" })
      refused({ tags: Array.from({ length: 50 }, (_, index) => `tag-number-${index}`) }) // 50 × 12–13 + 49 commas
      refused({ tags: ["space", "Space"] })
      refused({ tags: ["a,b"] })
      refused({ language: "English" })
      refused({ narration: [] })
      refused({ scenes: [{ heading: "Intro", text: "Hello.", weight: 0 }] })
      // And the limits themselves are allowed.
      const ok = decode({
        ...encoded,
        title: "x".repeat(100),
        description: "é".repeat(2_500),
        tags: ["a".repeat(498)].concat(["b"]) // 498 + 1 comma + 1
      })
      assert.isTrue(ok._tag === "Success")
    })

    it("counts tags as YouTube does: commas between tags, quotes around a tag with a space", () => {
      expect(Script.tagsLength([])).toBe(0)
      expect(Script.tagsLength(["Foo-Baz"])).toBe(7)
      expect(Script.tagsLength(["Foo Baz"])).toBe(9)
      expect(Script.tagsLength(["space", "black holes"])).toBe(5 + 1 + 13)
    })
  })

  describe("hostile topics", () => {
    for (const [label, hostile] of Object.entries(hostileTopics)) {
      it(`keeps every limit for a topic that is ${label}`, () => {
        for (const style of styles) {
          for (const language of languagesUnderTest) {
            expect(limitViolations(compose({ channel: channel({ style, language }), topic: hostile }))).toEqual([])
          }
        }
      })
    }

    it("shortens a long title at a word boundary", () => {
      const script = compose({ topic: longTopic })
      assert.isAtMost(script.title.length, 100)
      assert.isAbove(script.title.length, 80)
      assert.isTrue(script.title.endsWith("…"))
      assert.isTrue(`${longTopic} `.startsWith(`${script.title.slice(0, -1)} `), script.title)
    })

    it("cuts a single word only when it alone is longer than the limit", () => {
      const script = compose({ topic: hostileTopics.oneWord })
      expect(script.title).toBe(`${hostileTopics.oneWord.slice(0, 99)}…`)
    })

    it("keeps emoji whole and leaves markup characters out", () => {
      const script = compose({ topic: hostileTopics.markup })
      for (const text of [script.title, script.description, ...script.narration]) {
        assert.notMatch(text, /[<>]/)
        assert.isFalse(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(text), "no lone high surrogate")
      }
      // Emoji are in the title, not in the spoken narration.
      assert.include(script.title, "🚀")
      assert.notInclude(Script.narrationText(script), "🚀")
      assert.include(Script.narrationText(script), "Rockets")
      assert.include(Script.narrationText(script), "& \"fuel\"")
    })

    it("cuts a description that would pass 5,000 bytes at a word, keeping its multi-byte characters whole", () => {
      const script = compose({ topic: hostileTopics.huge })
      const bytes = new TextEncoder().encode(script.description).byteLength
      assert.isAtMost(bytes, 5_000)
      assert.isAbove(bytes, 4_900)
      assert.isTrue(script.description.endsWith("…"))
      assert.match(script.description, /(Éléphants|d’Afrique)…$/)
    })

    it("writes about the niche when the topic is blank", () => {
      const script = compose({ topic: "   " })
      assert.include(Script.narrationText(script), "space science")
      assert.include(script.title.toLowerCase(), "space science")
    })
  })

  describe("content", () => {
    it("names the topic in the intro and the outro, and the channel in the call to subscribe", () => {
      const script = compose()
      const intro = script.narration[0]!
      const outro = script.narration.at(-1)!
      assert.include(intro, topic)
      assert.include(outro, "Curious Minds")
      assert.match(outro, /subscrib/i)
      assert.include(script.title.toLowerCase(), topic)
      assert.include(script.description, topic)
    })

    it("writes an intro, three to five points and an outro, one scene each, weighted by their words", () => {
      for (let index = 0; index < 20; index++) {
        const script = compose({ videoId: Ids.VideoId.make(`video-${index}`) })
        assert.isAtLeast(script.narration.length, 5)
        assert.isAtMost(script.narration.length, 7)
        expect(script.scenes.map((scene) => scene.text)).toEqual(script.narration)
        expect(script.scenes[0]?.heading).toBe("Intro")
        expect(script.scenes.at(-1)?.heading).toBe("Outro")
        for (const scene of script.scenes) expect(scene.weight).toBe(words(scene.text))
      }
    })

    it("numbers a listicle's points and lets the style choose how many", () => {
      const script = compose({ channel: channel({ style: "listicle" }) })
      const points = script.narration.slice(1, -1)
      points.forEach((paragraph, index) => {
        const number = ["one", "two", "three", "four", "five"][index]
        assert.isTrue(paragraph.startsWith(`Number ${number}: `), paragraph)
        assert.isTrue(script.scenes[index + 1]!.heading.startsWith(`${index + 1}. `))
      })
      assert.include(script.narration[0], `${["three", "four", "five"][points.length - 3]} `)
      assert.match(script.narration.at(-1)!, /comments/)

      const top5 = compose({ channel: channel({ style: "Top 5 countdown" }) })
      expect(top5.narration.length).toBe(7)
      assert.include(top5.narration[5], "Number five: ")

      // An explainer's points are not numbered.
      const explainer = compose({ channel: channel({ style: "calm explainer" }) })
      assert.isFalse(explainer.narration.some((paragraph) => paragraph.startsWith("Number ")))
    })

    it("lets the mood change the hook and the call to subscribe", () => {
      const ids = Array.from({ length: 10 }, (_, index) => Ids.VideoId.make(`video-${index}`))
      const upbeat = ids.map((id) => compose({ channel: channel({ style: "upbeat explainer" }), videoId: id }))
      const calm = ids.map((id) => compose({ channel: channel({ style: "calm explainer" }), videoId: id }))
      assert.isTrue(upbeat.every((script) => script.narration.at(-1)!.includes("!")))
      assert.isTrue(calm.every((script) => !script.narration.join(" ").includes("!")))
      assert.isTrue(calm.every((script) => /thank/i.test(script.narration.at(-1)!)))
    })

    it("keeps the default narration short, and longer when asked", () => {
      for (const style of styles) {
        for (let index = 0; index < 10; index++) {
          const script = compose({ channel: channel({ style }), videoId: Ids.VideoId.make(`video-${index}`) })
          const count = words(Script.narrationText(script))
          assert.isAtLeast(count, 120)
          assert.isAtMost(count, 250)
        }
      }
      const long = compose({}, { targetWords: 350 })
      assert.isAtLeast(words(Script.narrationText(long)), 300)
      const short = compose({}, { targetWords: 60 })
      assert.isAtMost(words(Script.narrationText(short)), 170)
      assert.isBelow(words(Script.narrationText(short)), words(Script.narrationText(compose())))
    })

    it("writes German and Spanish with their own phrases, and other languages in English labelled en", () => {
      const german = compose({ channel: channel({ language: "de", style: "Liste", niche: "Weltraum" }) })
      expect(german.language).toBe("de")
      assert.isTrue(german.narration[1]!.startsWith("Punkt eins: "))
      assert.match(german.narration.at(-1)!, /Abonniere|abonniere/)

      const spanish = compose({
        channel: channel({ language: "es-MX", style: "explicación tranquila", niche: "cocina" }),
        topic: "¿Por qué sube el pan?"
      })
      expect(spanish.language).toBe("es-MX")
      expect(spanish.title).toBe("¿Por qué sube el pan?")
      assert.match(spanish.narration.at(-1)!, /[Ss]uscríbete/)

      const french = compose({ channel: channel({ language: "fr" }), topic: "les trous noirs" })
      expect(french.language).toBe("en")
      assert.include(french.narration[0], "les trous noirs")
    })

    it("title-cases an English title", () => {
      const script = compose({ channel: channel({ style: "documentary" }), topic: "the fall of the roman empire" })
      assert.include(script.title, "Fall of the Roman Empire")
    })
  })

  describe("tags", () => {
    it("are lowercase words of the topic and the niche, distinct, within 500 characters", () => {
      const script = compose({ topic: "Black Holes and the Black Hole Information Paradox" })
      expect(limitViolations(script)).toEqual([])
      for (const word of ["black", "holes", "information", "paradox", "space", "science"]) {
        assert.include(script.tags, word)
      }
      assert.notInclude(script.tags, "the")
      assert.notInclude(script.tags, "and")
    })

    it("stay within 500 characters for a long topic and niche of long words", () => {
      const script = compose({
        channel: channel({ niche: longWords("niche", 7).slice(0, 200) }),
        topic: longWords("topic", 11).slice(0, 300)
      })
      expect(limitViolations(script)).toEqual([])
      assert.isAtMost(Script.tagsLength(script.tags), 500)
      assert.isAtLeast(script.tags.length, 10)
    })
  })

  describe("usage", () => {
    it("counts the narration's characters as the voice stage bills them", () => {
      for (const language of languagesUnderTest) {
        const script = compose({ channel: channel({ language }) })
        expect(Script.characters(script)).toBe(Script.narrationText(script).length)
        expect(Script.characters(script)).toBe(
          script.narration.reduce((sum, paragraph) => sum + paragraph.length, 0) + 2 * (script.narration.length - 1)
        )
      }
    })

    it.effect("reports the CPU time it took (none under the test clock)", () =>
      Effect.gen(function*() {
        const { usage } = yield* LocalScriptWriter.write({ channel: channel(), topic, videoId })
        expect(usage).toEqual([Pricing.use("compute.cpu-hour", 0)])
        expect(Pricing.cost(usage)).toEqual(Money.zero)
      }))

    it.live("reports whole milliseconds of CPU time under the real clock", () =>
      Effect.gen(function*() {
        const { usage } = yield* LocalScriptWriter.write({ channel: channel(), topic, videoId })
        expect(usage.length).toBe(1)
        expect(usage[0]?.price).toBe("compute.cpu-hour")
        assert.isTrue(Number.isInteger(usage[0]?.quantity))
        assert.isAtMost(usage[0]!.quantity, 5_000)
      }))
  })
})
