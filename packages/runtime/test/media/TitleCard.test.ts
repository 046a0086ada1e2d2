import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, expect, layer } from "@effect/vitest"
import { TitleCard } from "@ytempire/runtime"
import { Effect, FileSystem, Layer, Path } from "effect"
import sharp from "sharp"

const TestLayer = Layer.mergeAll(TitleCard.TitleCard.layer, NodeFileSystem.layer, NodePath.layer)

const metadata = (png: Uint8Array) => Effect.promise(() => sharp(png).metadata())

// The channels of the top-left pixel.
const pixel = (png: Uint8Array) =>
  Effect.promise(() => sharp(png).extract({ left: 0, top: 0, width: 1, height: 1 }).raw().toBuffer())

const octopus = TitleCard.title({
  title: "Why Octopuses Have Three Hearts",
  subtitle: "Marine biology, explained",
  seed: "channel-octopus"
})

layer(TestLayer, { timeout: "60 seconds" })("TitleCard", (it) => {
  it.effect("draws a 1280×720 PNG", () =>
    Effect.gen(function*() {
      const cards = yield* TitleCard.TitleCard
      const png = yield* cards.render(octopus)
      const info = yield* metadata(png)
      expect([info.format, info.width, info.height]).toEqual(["png", 1280, 720])
    }))

  it.effect("gives byte-identical output for the same card and different output for another seed", () =>
    Effect.gen(function*() {
      const cards = yield* TitleCard.TitleCard
      const first = yield* cards.render(octopus)
      const second = yield* cards.render(TitleCard.title({ ...octopus }))
      const otherSeed = yield* cards.render(TitleCard.title({ ...octopus, seed: "channel-squid" }))

      expect(Buffer.compare(first, second)).toBe(0)
      expect(Buffer.compare(first, otherSeed)).not.toBe(0)
      // The seed changes the colours: the top-left pixel differs.
      expect([...(yield* pixel(first))]).not.toEqual([...(yield* pixel(otherSeed))])
    }))

  it.effect("escapes hostile titles and still draws long, Japanese, emoji and control-character text", () =>
    Effect.gen(function*() {
      const cards = yield* TitleCard.TitleCard
      const hostile = TitleCard.title({ title: `<script>&"'</script> ]]> <!--`, subtitle: "a & b < c", seed: "x" })
      const svg = TitleCard.toSvg(hostile)
      expect(svg).toContain(">&lt;script&gt;&amp;&quot;&apos;&lt;/script&gt;</text>")
      expect(svg).toContain(">]]&gt; &lt;!--</text>")
      expect(svg).toContain(">a &amp; b &lt; c</text>")
      expect(svg).not.toContain("<script")

      const titles = [
        hostile,
        TitleCard.title({ title: "Lorem ipsum dolor sit amet ".repeat(20).slice(0, 500), seed: "long" }),
        TitleCard.title({ title: "a".repeat(500), seed: "no-spaces" }),
        TitleCard.title({
          title: "タコの心臓が三つある理由と、その驚くべき仕組みについて",
          subtitle: "海洋生物学",
          seed: "ja"
        }),
        TitleCard.title({ title: "Octopus facts 🐙🧠 — «ça va» — مرحبا", seed: "mixed" }),
        TitleCard.title({ title: "bell\u0007 nul\u0000 lone\uD800 surrogate", seed: "control" }),
        TitleCard.scene({ text: "x ".repeat(400), index: 3, total: 7, caption: "<caption & more>", seed: "scene" })
      ]
      for (const card of titles) {
        const info = yield* metadata(yield* cards.render(card))
        expect([info.width, info.height]).toEqual([1280, 720])
      }
      // A long title is cut to at most three lines ending with an ellipsis.
      const longSvg = TitleCard.toSvg(titles[1]!)
      expect(longSvg.match(/font-weight="700"/g)?.length).toBe(3)
      expect(longSvg).toContain("…</text>")
    }))

  it.effect("writes scene cards to a PNG file, and refuses an output that is not .png", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const cards = yield* TitleCard.TitleCard
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "ytempire-card-" })
      const card = TitleCard.scene({
        text: "An octopus has three hearts: two pump blood through the gills, one through the body.",
        index: 2,
        total: 3,
        caption: "Why Octopuses Have Three Hearts",
        seed: "channel-octopus"
      })

      const written = yield* cards.write(card, path.join(dir, "scene-2.png"))

      const bytes = yield* fs.readFile(written.path)
      expect(written.bytes).toBe(bytes.byteLength)
      const info = yield* metadata(bytes)
      expect([info.width, info.height]).toEqual([1280, 720])
      expect(yield* fs.readDirectory(dir)).toEqual(["scene-2.png"])

      const error = yield* Effect.flip(cards.write(card, path.join(dir, "scene.jpg")))
      assert(error._tag === "InvalidMediaInput")
      expect(error.field).toBe("output")
    }))
})
