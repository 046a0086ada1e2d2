import { describe, expect, it } from "@effect/vitest"
import { GpuJobSpec } from "@ytempire/domain"
import { Schema } from "effect"

const decode = Schema.decodeUnknownSync(GpuJobSpec.GpuJobSpec)
const encode = Schema.encodeSync(GpuJobSpec.GpuJobSpec)

const valid = {
  kind: "llm",
  vramMiB: 20_480,
  estimatedSeconds: 30,
  computeShare: 0.75,
  priority: "high"
}

describe("GpuJobSpec", () => {
  describe("decoding", () => {
    it("reads a spec and applies the defaults for absent keys", () => {
      const spec = decode(valid)
      expect(spec).toBeInstanceOf(GpuJobSpec.GpuJobSpec)
      expect(spec.kind).toBe("llm")
      expect(spec.vramMiB).toBe(20_480)
      expect(spec.estimatedSeconds).toBe(30)
      expect(spec.computeShare).toBe(0.75)
      expect(spec.priority).toBe("high")
      expect(spec.modelKey).toBeUndefined()
      expect("modelKey" in spec).toBe(false)
      expect(spec.modelLoadSeconds).toBe(0)
      expect(spec.encoderSessions).toBe(0)
    })

    it("keeps the values that are given, at the edges of their ranges", () => {
      const spec = decode({
        ...valid,
        kind: "encode",
        vramMiB: 1,
        estimatedSeconds: 0.5,
        computeShare: 1,
        priority: "low",
        modelKey: "llama-3.1-8b-q4",
        modelLoadSeconds: 0,
        encoderSessions: 8
      })
      expect(spec.kind).toBe("encode")
      expect(spec.vramMiB).toBe(1)
      expect(spec.estimatedSeconds).toBe(0.5)
      expect(spec.computeShare).toBe(1)
      expect(spec.priority).toBe("low")
      expect(spec.modelKey).toBe("llama-3.1-8b-q4")
      expect(spec.encoderSessions).toBe(8)
      expect(decode({ ...valid, computeShare: 0.001 }).computeShare).toBe(0.001)
      expect(decode({ ...valid, modelLoadSeconds: 12.5 }).modelLoadSeconds).toBe(12.5)
    })

    it("accepts every kind of job", () => {
      for (const kind of ["llm", "tts", "image", "render", "encode", "other"]) {
        expect(decode({ ...valid, kind }).kind).toBe(kind)
      }
    })

    it("refuses each malformed field with a message naming it", () => {
      const cases: ReadonlyArray<readonly [Record<string, unknown>, RegExp]> = [
        [{ vramMiB: 0 }, /vramMiB/],
        [{ vramMiB: -1 }, /vramMiB/],
        [{ vramMiB: 1.5 }, /vramMiB/],
        [{ vramMiB: "8192" }, /vramMiB/],
        [{ estimatedSeconds: 0 }, /estimatedSeconds/],
        [{ estimatedSeconds: -5 }, /estimatedSeconds/],
        [{ estimatedSeconds: Number.POSITIVE_INFINITY }, /estimatedSeconds/],
        [{ estimatedSeconds: Number.NaN }, /estimatedSeconds/],
        [{ computeShare: 0 }, /computeShare/],
        [{ computeShare: 1.5 }, /computeShare/],
        [{ computeShare: -0.1 }, /computeShare/],
        [{ kind: "gpu" }, /kind/],
        [{ priority: "urgent" }, /priority/],
        [{ modelKey: "" }, /modelKey/],
        [{ modelLoadSeconds: -1 }, /modelLoadSeconds/],
        [{ encoderSessions: -1 }, /encoderSessions/],
        [{ encoderSessions: 1.5 }, /encoderSessions/]
      ]
      for (const [patch, field] of cases) {
        expect(() => decode({ ...valid, ...patch }), JSON.stringify(patch)).toThrow(field)
      }
      // A missing required key is named too.
      const { vramMiB: _, ...withoutVram } = valid
      expect(() => decode(withoutVram)).toThrow(/vramMiB/)
    })

    it("says what was expected, not only where", () => {
      expect(() => decode({ ...valid, vramMiB: 1.5 })).toThrow(/vramMiB must be a positive integer/)
      expect(() => decode({ ...valid, computeShare: 0 })).toThrow(/greater than 0 and at most 1/)
      expect(() => decode({ ...valid, kind: "gpu" })).toThrow(/"llm", "tts", "image", "render", "encode" or "other"/)
    })
  })

  describe("constructing and encoding", () => {
    it("the constructor applies the same defaults and the same checks", () => {
      const spec = new GpuJobSpec.GpuJobSpec({
        kind: "tts",
        vramMiB: 4_096,
        estimatedSeconds: 12,
        computeShare: 0.5,
        priority: "normal"
      })
      expect(spec.modelLoadSeconds).toBe(0)
      expect(spec.encoderSessions).toBe(0)
      expect(() => new GpuJobSpec.GpuJobSpec({ ...spec, vramMiB: 0 })).toThrow()
      expect(() => new GpuJobSpec.GpuJobSpec({ ...spec, computeShare: 1.5 })).toThrow()
    })

    it("encodes with the defaults written out, and decodes back to an equal spec", () => {
      const encoded = encode(decode(valid))
      expect(encoded).toEqual({ ...valid, modelLoadSeconds: 0, encoderSessions: 0 })
      const again = decode(JSON.parse(JSON.stringify(encoded)))
      expect(encode(again)).toEqual(encoded)
    })
  })

  describe("presets", () => {
    it("are valid specs that survive a JSON round trip", () => {
      for (const preset of [GpuJobSpec.sdxlThumbnail, GpuJobSpec.nvencRender1080p]) {
        const back = decode(JSON.parse(JSON.stringify(encode(preset))))
        expect(encode(back)).toEqual(encode(preset))
      }
    })

    it("describe their work: an image job with a shareable model, a render with one NVENC session", () => {
      expect(GpuJobSpec.sdxlThumbnail.kind).toBe("image")
      expect(GpuJobSpec.sdxlThumbnail.modelKey).toBeDefined()
      expect(GpuJobSpec.sdxlThumbnail.encoderSessions).toBe(0)
      expect(GpuJobSpec.nvencRender1080p.kind).toBe("render")
      expect(GpuJobSpec.nvencRender1080p.encoderSessions).toBe(1)
      expect(GpuJobSpec.nvencRender1080p.computeShare).toBeLessThan(GpuJobSpec.sdxlThumbnail.computeShare)
      // A thumbnail and a render fit side by side on one 32 GB card (an RTX 5090 has 32,607 MiB).
      expect(GpuJobSpec.sdxlThumbnail.vramMiB + GpuJobSpec.nvencRender1080p.vramMiB).toBeLessThan(32_607)
    })
  })

  describe("GpuRequestTooLarge", () => {
    const decodeError = Schema.decodeUnknownSync(GpuJobSpec.GpuRequestTooLarge)
    const encodeError = Schema.encodeSync(GpuJobSpec.GpuRequestTooLarge)

    it("survives a JSON round trip with its tag and fields", () => {
      const error = new GpuJobSpec.GpuRequestTooLarge({
        kind: "llm",
        requestedMiB: 40_960,
        largestUsableMiB: 30_720,
        encoderSessions: 9,
        encoderSessionLimit: 8
      })
      const wire = JSON.parse(JSON.stringify(encodeError(error)))
      expect(wire).toEqual({
        _tag: "GpuRequestTooLarge",
        kind: "llm",
        requestedMiB: 40_960,
        largestUsableMiB: 30_720,
        encoderSessions: 9,
        encoderSessionLimit: 8
      })
      const back = decodeError(wire)
      expect(back).toBeInstanceOf(GpuJobSpec.GpuRequestTooLarge)
      expect(back._tag).toBe("GpuRequestTooLarge")
      expect(back.kind).toBe("llm")
      expect(back.requestedMiB).toBe(40_960)
      expect(back.largestUsableMiB).toBe(30_720)
      expect(back.encoderSessions).toBe(9)
      expect(back.encoderSessionLimit).toBe(8)
      expect(back.message).toBe(error.message)
    })

    it("is never retryable, and its message gives the figures", () => {
      const vramOnly = new GpuJobSpec.GpuRequestTooLarge({
        kind: "image",
        requestedMiB: 40_960,
        largestUsableMiB: 30_720
      })
      expect(vramOnly.isRetryable).toBe(false)
      expect(vramOnly.message).toMatch(/image/)
      expect(vramOnly.message).toMatch(/40960 MiB/)
      expect(vramOnly.message).toMatch(/30720 MiB/)
      expect(vramOnly.message).not.toMatch(/NVENC/)
      const wire = JSON.parse(JSON.stringify(encodeError(vramOnly)))
      expect("encoderSessions" in wire).toBe(false)
      expect(decodeError(wire).message).toBe(vramOnly.message)

      const sessions = new GpuJobSpec.GpuRequestTooLarge({
        kind: "encode",
        requestedMiB: 2_048,
        largestUsableMiB: 30_720,
        encoderSessions: 9,
        encoderSessionLimit: 8
      })
      expect(sessions.isRetryable).toBe(false)
      expect(sessions.message).toMatch(/9 NVENC sessions/)
      expect(sessions.message).toMatch(/allows 8/)
    })
  })
})
