/**
 * The offline script writer: the default, `local`-tier provider of the `script` stage. It needs no network and
 * no model; it writes a short explainer from templates, chosen and varied by the channel's niche, style and
 * language and by a topic:
 *
 * - an intro with a hook that names the topic, a welcome that names the channel and its niche, and a preview;
 * - three to five body paragraphs, each on one angle (the basics, how it works, why it matters, a common myth,
 *   …), framed by the channel's style: a listicle numbers its points ("Number one: …"), a documentary links them
 *   with bridges, an explainer leads each with a question or a signpost; an upbeat or a calm style changes the
 *   hook, an aside and the outro;
 * - an outro that wraps up and asks the viewer to subscribe, in the channel's voice.
 *
 * The title and description are built from the topic (the title title-cased in English, and shortened at a word
 * boundary to YouTube's 100 characters), the tags from the words of the topic and the niche (lowercased,
 * distinct, within YouTube's 500 characters). Everything is within the limits of {@link Script.Script}, also for
 * hostile topics (very long, one long word, emoji, `<>&"`).
 *
 * The writer is deterministic: the same channel (its id, name, niche, style and language), topic and video id
 * always give the same script, because every choice comes from a small PRNG seeded by a hash of those.
 *
 * **Languages.** English, German (`de`, `de-*`) and Spanish (`es`, `es-*`) have their own phrase tables; the
 * script's `language` is then the channel's tag. Any other language falls back to English, and the script's
 * `language` is then `"en"`, because it describes the text: the voice stage picks a voice by it, and the
 * upload stage declares it to YouTube. Compare it with the channel's language to detect the fallback. The
 * niche-specific remarks (science, money, history, …) exist only in English; German and Spanish use a general
 * remark that names the niche.
 *
 * **Gotchas**
 *
 * - The writer knows nothing about the topic beyond its words: it states no facts and no figures. Its scripts
 *   are placeholders with the shape, length and metadata of a real one, good enough to run the pipeline, not
 *   to publish as journalism.
 * - A topic that is empty once cleaned (blank, only `<>` or control characters) is replaced by the niche.
 * - Emoji stay in the title, description and tags' source but are left out of the narration, which is spoken.
 *
 * @since 0.1.0
 */
import type { Channel, Ids, Provider } from "@ytempire/domain"
import { Pricing } from "@ytempire/domain"
import { Clock, Effect } from "effect"
import * as Script from "../Script.ts"

/**
 * The provider's name, as the provider chain and a video's stage record name it.
 *
 * @category constants
 */
export const name = "local-script-writer"

/**
 * The provider's tier.
 *
 * @category constants
 */
export const tier = "local" satisfies Provider.ProviderTier

/**
 * The languages with their own phrase table; any other language is written in English.
 *
 * @category constants
 */
export const languages: ReadonlyArray<string> = ["en", "de", "es"]

/**
 * The narration's default length in words. A 180-word narration is a little over a minute of speech.
 *
 * @category constants
 */
export const defaultTargetWords = 180

/**
 * What to write about: a channel, a topic and the video the script is for.
 *
 * @category models
 */
export interface Input {
  readonly channel: Channel.Channel
  readonly topic: string
  readonly videoId: Ids.VideoId
}

/**
 * How long to write. `targetWords` (default {@link defaultTargetWords}, at least 60): the narration ends with
 * the first sentence that reaches it, or when the templates run out (at 320 to 400 words in English, 250 to 320
 * in German or Spanish). The intro, the outro and two or three sentences per point are always written, so a small
 * target gives 100 to 170 words.
 *
 * @category models
 */
export interface Options {
  readonly targetWords?: number | undefined
}

/**
 * A written script and what writing it used.
 *
 * @category models
 */
export interface Written {
  readonly script: Script.Script
  readonly usage: Pricing.Usage
}

// ---------------------------------------------------------------------------------------------------------------
// Phrase tables

type Format = "explainer" | "listicle" | "documentary"
type Mood = "upbeat" | "calm" | "neutral"
type NicheFamily = "science" | "tech" | "finance" | "history" | "health" | "food" | "general"
type Pool = readonly [string, ...Array<string>]

interface Angle {
  /** A scene heading. */
  readonly heading: string
  /** The angle as a listicle point, in a sentence: "Number one: {point}." */
  readonly point: string
  /** The sentence that opens the paragraph (explainer and documentary). */
  readonly lead: string
  /** Standalone sentences, in order; the first is always used, the others as the length allows. */
  readonly body: Pool
  /** 0: early, 1: middle, 2: late in the video. */
  readonly place: 0 | 1 | 2
}

interface Phrasebook {
  readonly hooks: Readonly<Record<Mood, Pool>>
  readonly questionHooks: Readonly<Record<Mood, Pool>>
  readonly welcome: Pool
  readonly preview: Readonly<Record<Format, Pool>>
  readonly angles: ReadonlyArray<Angle>
  readonly listMarker: string
  readonly bridges: Pool
  readonly asides: Readonly<Record<Mood, Pool>>
  readonly lenses: Readonly<Partial<Record<NicheFamily, readonly [string, string]>>> & {
    readonly general: readonly [string, string]
  }
  readonly wrapUp: Pool
  readonly questionWrapUp: Pool
  readonly subscribe: Readonly<Record<Mood, Pool>>
  readonly commentPrompt: string
  readonly headings: { readonly intro: string; readonly outro: string }
  readonly titles: Readonly<Record<Format, Pool>>
  readonly summaries: Readonly<Record<Format, string>>
  readonly inThisVideo: string
  readonly subscribeLine: string
  readonly numberWords: ReadonlyArray<string>
  readonly titleCase: boolean
  readonly capitalizedNouns: boolean
  readonly invertedQuestion: boolean
  readonly fallbackTopic: string
  readonly stopwords: ReadonlySet<string>
}

const english: Phrasebook = {
  hooks: {
    upbeat: [
      "Get ready, because today we're taking a fast, fun look at {topic}!",
      "Let's go! This one is all about {topic}.",
      "Today's video is about {topic}, and it's more exciting than you'd think!"
    ],
    calm: [
      "Today, let's take a quiet, careful look at {topic}.",
      "In this video, we slow down and take a few minutes to think about {topic}.",
      "Let's settle in and explore {topic}, one step at a time."
    ],
    neutral: ["Today we're looking at {topic}.", "Let's talk about {topic}.", "This video is about {topic}."]
  },
  questionHooks: {
    upbeat: ["Here's today's big question: {question} Let's find out!", "{question} Great question, so let's dive in!"],
    calm: ["Here is today's question: {question}", "Let's take our time with a simple question: {question}"],
    neutral: ["Today's question: {question}", "{question} Let's find out."]
  },
  welcome: [
    "Welcome to {channel}, where we explore {niche}.",
    "You're watching {channel}, the channel about {niche}.",
    "Welcome back to {channel}."
  ],
  preview: {
    explainer: [
      "In the next few minutes, we'll break it down step by step.",
      "By the end, you'll know what's really going on."
    ],
    listicle: ["Here are {count} things worth knowing.", "We've got {count} points to cover, so let's jump in."],
    documentary: [
      "It's a story with more layers than you might expect.",
      "To understand it, we'll need to look a little closer."
    ]
  },
  angles: [
    {
      heading: "The Basics",
      point: "the basics",
      lead: "Let's start with the basics.",
      body: [
        "At its core, the idea is simpler than it first appears.",
        "Strip away the jargon and you are left with a few moving parts that fit together neatly.",
        "Once you see how those parts connect, everything else starts to make sense.",
        "That foundation is what the rest of this video builds on."
      ],
      place: 0
    },
    {
      heading: "Where It Comes From",
      point: "where it all comes from",
      lead: "To understand it properly, it helps to know where it comes from.",
      body: [
        "The story starts earlier than most people think.",
        "What began as a small observation slowly grew into something much bigger.",
        "Along the way, a few key ideas were tested, refined and sometimes thrown out.",
        "That history still shapes how we think about it today."
      ],
      place: 0
    },
    {
      heading: "How It Works",
      point: "how it actually works",
      lead: "So how does it actually work?",
      body: [
        "It comes down to a chain of cause and effect that is surprisingly easy to follow.",
        "Each step depends on the one before it, and that is exactly where things get interesting.",
        "Change one link in the chain and the outcome can look completely different.",
        "Follow it from start to finish and the whole picture comes into focus."
      ],
      place: 1
    },
    {
      heading: "Why It Matters",
      point: "why it matters",
      lead: "Why should any of this matter to you?",
      body: [
        "It shows up in more places than most people expect.",
        "Small details here have a way of adding up to big consequences.",
        "Understanding it makes a lot of everyday things easier to explain.",
        "And once you know what to look for, you start noticing it everywhere."
      ],
      place: 1
    },
    {
      heading: "The Surprising Part",
      point: "the part that surprises people",
      lead: "Now for the part that surprises most people.",
      body: [
        "The most important piece is often the one that gets the least attention.",
        "It runs against our intuition, which is why it is so easy to miss.",
        "Once you notice it, it is hard to unsee.",
        "It quietly changes how the whole subject fits together."
      ],
      place: 1
    },
    {
      heading: "A Common Myth",
      point: "a myth worth clearing up",
      lead: "There is also a common myth worth clearing up.",
      body: [
        "Many people assume the obvious explanation is the right one, but the real answer is more subtle.",
        "The mistake usually comes from looking at one piece in isolation.",
        "Put that piece back into context and the myth falls apart.",
        "It is a good reminder to check the whole picture before drawing conclusions."
      ],
      place: 1
    },
    {
      heading: "Open Questions",
      point: "what we still don't know",
      lead: "Of course, not every question has been answered yet.",
      body: [
        "There are still open debates, and careful people disagree on some of the details.",
        "That uncertainty is not a weakness; it is where the next discoveries come from.",
        "Keep an eye on this space, because the story is still being written."
      ],
      place: 2
    },
    {
      heading: "The Takeaway",
      point: "the takeaway",
      lead: "So what is the takeaway?",
      body: [
        "Look for the underlying pattern before jumping to conclusions.",
        "Next time the subject comes up, you will know which questions to ask.",
        "And that habit carries over to plenty of other topics as well."
      ],
      place: 2
    }
  ],
  listMarker: "Number {count}: {point}.",
  bridges: [
    "Consider this for a moment.",
    "To see why, we have to look a little closer.",
    "And this is where the story turns.",
    "But there is another side to this."
  ],
  asides: {
    upbeat: [
      "Pretty amazing, right?",
      "Honestly, this is the fun part.",
      "Stick with me, because it gets even better."
    ],
    calm: [
      "Take a moment to let that sink in.",
      "There is no need to rush this part.",
      "It is worth sitting with that idea for a second."
    ],
    neutral: ["Keep that in mind for what comes next.", "That detail matters more than it seems."]
  },
  lenses: {
    science: [
      "As always in science, what matters is what the evidence actually shows.",
      "Careful measurement beats a good story every time."
    ],
    tech: [
      "Under the hood, it is really about trade-offs between speed, cost and reliability.",
      "As with most technology, the clever part is usually the part you never see."
    ],
    finance: [
      "As always with money, the numbers matter more than the headlines.",
      "Costs and risks deserve as much attention as the upside."
    ],
    history: [
      "Context is everything, because the world looked very different back then.",
      "History rarely moves in straight lines, and this is no exception."
    ],
    health: [
      "Everybody is different, so treat this as general information, not medical advice.",
      "Consistency tends to matter more than any single trick."
    ],
    food: [
      "As with any good recipe, the details make the difference.",
      "Taste is personal, but the technique behind it is not."
    ],
    general: [
      "For anyone interested in {niche}, this is a key point.",
      "If you follow {niche}, you have probably run into this idea before."
    ]
  },
  wrapUp: [
    "That's our look at {topic}.",
    "And that's the short version of the story.",
    "So now you know a little more about {topic}."
  ],
  questionWrapUp: ["And that's the answer to today's question.", "That wraps up today's question."],
  subscribe: {
    upbeat: [
      "If you enjoyed this, hit subscribe and ring the bell so you never miss a video from {channel}!",
      "Subscribe to {channel} for more about {niche}, and I'll see you in the next one!"
    ],
    calm: [
      "If this was useful, consider subscribing to {channel} for more calm, careful looks at {niche}. Thanks for watching.",
      "If you'd like to join us again next time, subscribe to {channel}. Thank you for watching."
    ],
    neutral: [
      "Subscribe to {channel} for more videos about {niche}. Thanks for watching.",
      "If you found this helpful, subscribe to {channel}. See you next time."
    ]
  },
  commentPrompt: "Which point surprised you the most? Let us know in the comments.",
  headings: { intro: "Intro", outro: "Outro" },
  titles: {
    explainer: [
      "{Topic}, Explained",
      "{Topic}: What You Need to Know",
      "Understanding {Topic}",
      "{Topic} in Plain English"
    ],
    listicle: ["{n} Things to Know About {Topic}", "{Topic}: {n} Key Points", "{n} Things Worth Knowing About {Topic}"],
    documentary: ["{Topic}: The Full Story", "The Story of {Topic}", "Inside {Topic}"]
  },
  summaries: {
    explainer: "A short, clear explainer from {channel} about {topic}.",
    listicle: "{n} key points about {topic}, from {channel}.",
    documentary: "A short documentary from {channel} about {topic}."
  },
  inThisVideo: "In this video",
  subscribeLine: "Subscribe to {channel} for more about {niche}.",
  numberWords: ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
  titleCase: true,
  capitalizedNouns: false,
  invertedQuestion: false,
  fallbackTopic: "this topic",
  stopwords: new Set(
    ("a an the and or but nor of to in on at by for with from about into over under off per via vs versus is are " +
      "was were be been being do does did how why what when where who whom which whose that this these those it its " +
      "as your you we our their they them i me my can could should would will shall may might must just not no so " +
      "than then there here very more most some any all has have had get got really explained")
      .split(" ")
  )
}

const german: Phrasebook = {
  hooks: {
    upbeat: ["Los geht's! Unser Thema heute: {topic}!", "Heute wird es spannend, denn es geht um {topic}!"],
    calm: [
      "Nimm dir einen Moment Zeit. Unser Thema heute: {topic}.",
      "In diesem Video schauen wir uns in Ruhe ein Thema an: {topic}."
    ],
    neutral: ["Heute geht es um {topic}.", "Unser Thema heute: {topic}."]
  },
  questionHooks: {
    upbeat: ["Die große Frage heute: {question} Finden wir es heraus!"],
    calm: ["Unsere Frage heute: {question} Lass uns in Ruhe darüber nachdenken."],
    neutral: ["Die Frage heute: {question}", "{question} Das schauen wir uns heute an."]
  },
  welcome: ["Willkommen bei {channel}, deinem Kanal für {niche}.", "Schön, dass du wieder bei {channel} bist."],
  preview: {
    explainer: [
      "In den nächsten Minuten erklären wir alles Schritt für Schritt.",
      "Am Ende weißt du genau, was dahintersteckt."
    ],
    listicle: ["Hier sind {count} Dinge, die du wissen solltest.", "Wir haben {count} Punkte für dich, also los."],
    documentary: [
      "Es ist eine Geschichte mit mehr Ebenen, als man denkt.",
      "Um sie zu verstehen, müssen wir genauer hinschauen."
    ]
  },
  angles: [
    {
      heading: "Die Grundlagen",
      point: "die Grundlagen",
      lead: "Fangen wir mit den Grundlagen an.",
      body: [
        "Im Kern ist die Idee einfacher, als sie zuerst wirkt.",
        "Ohne Fachbegriffe bleiben nur ein paar Bausteine, die gut zusammenpassen.",
        "Wenn du siehst, wie sie zusammenhängen, ergibt der Rest schnell Sinn."
      ],
      place: 0
    },
    {
      heading: "Woher es kommt",
      point: "woher alles kommt",
      lead: "Um es richtig zu verstehen, hilft ein Blick auf die Anfänge.",
      body: [
        "Die Geschichte beginnt früher, als viele denken.",
        "Was als kleine Beobachtung anfing, wurde nach und nach zu etwas viel Größerem.",
        "Diese Geschichte prägt bis heute, wie wir darüber denken."
      ],
      place: 0
    },
    {
      heading: "So funktioniert es",
      point: "wie es wirklich funktioniert",
      lead: "Wie funktioniert das eigentlich?",
      body: [
        "Es läuft auf eine Kette von Ursache und Wirkung hinaus, der man gut folgen kann.",
        "Jeder Schritt hängt vom vorherigen ab, und genau da wird es spannend.",
        "Ändert man ein Glied der Kette, sieht das Ergebnis ganz anders aus."
      ],
      place: 1
    },
    {
      heading: "Warum es wichtig ist",
      point: "warum es wichtig ist",
      lead: "Warum sollte dich das interessieren?",
      body: [
        "Es begegnet uns an mehr Stellen, als man erwartet.",
        "Kleine Details haben hier oft große Folgen.",
        "Und wenn du einmal weißt, worauf du achten musst, siehst du es überall."
      ],
      place: 1
    },
    {
      heading: "Ein verbreiteter Irrtum",
      point: "ein verbreiteter Irrtum",
      lead: "Dazu gibt es einen verbreiteten Irrtum.",
      body: [
        "Viele halten die naheliegende Erklärung für die richtige, doch die Wahrheit ist feiner.",
        "Der Fehler entsteht meist, wenn man nur ein Teil für sich betrachtet.",
        "Im Zusammenhang betrachtet, löst sich der Irrtum auf."
      ],
      place: 1
    },
    {
      heading: "Das Fazit",
      point: "das Fazit",
      lead: "Was nehmen wir also mit?",
      body: [
        "Erst das Muster suchen, dann urteilen.",
        "Wenn das Thema das nächste Mal aufkommt, weißt du, welche Fragen du stellen musst.",
        "Und diese Gewohnheit hilft auch bei vielen anderen Themen."
      ],
      place: 2
    }
  ],
  listMarker: "Punkt {count}: {point}.",
  bridges: [
    "Halten wir hier kurz inne.",
    "Um das zu verstehen, müssen wir genauer hinsehen.",
    "Und genau hier nimmt die Geschichte eine Wendung.",
    "Doch das ist nur die eine Seite."
  ],
  asides: {
    upbeat: ["Ziemlich genial, oder?", "Ehrlich gesagt ist das der spannendste Teil."],
    calm: ["Lass das einen Moment wirken.", "Hier lohnt es sich, kurz innezuhalten."],
    neutral: ["Behalte das im Hinterkopf."]
  },
  lenses: {
    general: [
      "Gerade für alle, die sich für {niche} interessieren, ist das ein zentraler Punkt.",
      "Wer sich mit {niche} beschäftigt, ist dieser Idee sicher schon begegnet."
    ]
  },
  wrapUp: ["Das war unser Blick auf {topic}.", "Und das ist die Kurzfassung."],
  questionWrapUp: ["Und das ist die Antwort auf unsere Frage."],
  subscribe: {
    upbeat: [
      "Wenn dir das Video gefallen hat, abonniere {channel} und aktiviere die Glocke, dann verpasst du nichts mehr!"
    ],
    calm: [
      "Wenn dir das geholfen hat, abonniere gern {channel} für mehr ruhige Einblicke in {niche}. Danke fürs Zuschauen."
    ],
    neutral: ["Abonniere {channel} für mehr Videos über {niche}. Danke fürs Zuschauen."]
  },
  commentPrompt: "Welcher Punkt hat dich am meisten überrascht? Schreib es in die Kommentare.",
  headings: { intro: "Einleitung", outro: "Abschluss" },
  titles: {
    explainer: ["{Topic} – einfach erklärt", "{Topic}: Das musst du wissen"],
    listicle: ["{n} Dinge, die du über {topic} wissen solltest", "{Topic}: {n} wichtige Punkte"],
    documentary: ["{Topic}: Die ganze Geschichte", "{Topic} – eine Spurensuche"]
  },
  summaries: {
    explainer: "Ein kurzes Erklärvideo von {channel} über {topic}.",
    listicle: "{n} wichtige Punkte über {topic}, von {channel}.",
    documentary: "Eine kurze Dokumentation von {channel} über {topic}."
  },
  inThisVideo: "In diesem Video",
  subscribeLine: "Abonniere {channel} für mehr zu {niche}.",
  numberWords: ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn"],
  titleCase: false,
  capitalizedNouns: true,
  invertedQuestion: false,
  fallbackTopic: "dieses Thema",
  stopwords: new Set(
    ("der die das den dem des ein eine einer eines einem einen und oder aber doch ist sind war waren sein wird " +
      "werden warum wie was wer wo wann welche welcher welches für mit von vom zu zum zur im in am an auf aus bei " +
      "über unter nicht auch es sich ich du wir ihr sie man haben hat hatte kann können soll sollte mehr sehr " +
      "noch nur so als dass erklärt")
      .split(" ")
  )
}

const spanish: Phrasebook = {
  hooks: {
    upbeat: ["¡Vamos allá! Hoy hablamos de {topic}.", "¡Prepárate! El tema de hoy: {topic}."],
    calm: [
      "Tómate un momento. Hoy vamos a mirar con calma un tema: {topic}.",
      "En este vídeo nos detenemos a pensar en {topic}."
    ],
    neutral: ["Hoy hablamos de {topic}.", "El tema de hoy: {topic}."]
  },
  questionHooks: {
    upbeat: ["La gran pregunta de hoy: {question} ¡Vamos a descubrirlo!"],
    calm: ["Nuestra pregunta de hoy: {question} Vamos a pensarla con calma."],
    neutral: ["La pregunta de hoy: {question}", "{question} Vamos a verlo."]
  },
  welcome: ["Bienvenido a {channel}, tu canal sobre {niche}.", "Qué bueno tenerte de vuelta en {channel}."],
  preview: {
    explainer: [
      "En los próximos minutos lo explicamos paso a paso.",
      "Al final sabrás exactamente qué hay detrás."
    ],
    listicle: [
      "Aquí tienes {count} cosas que deberías saber.",
      "Tenemos {count} puntos que repasar, así que empecemos."
    ],
    documentary: [
      "Es una historia con más capas de las que parece.",
      "Para entenderla, tenemos que mirar más de cerca."
    ]
  },
  angles: [
    {
      heading: "Lo básico",
      point: "lo básico",
      lead: "Empecemos por lo básico.",
      body: [
        "En el fondo, la idea es más sencilla de lo que parece.",
        "Sin la jerga técnica quedan unas pocas piezas que encajan muy bien.",
        "Cuando ves cómo se conectan, todo lo demás empieza a tener sentido."
      ],
      place: 0
    },
    {
      heading: "De dónde viene",
      point: "de dónde viene todo",
      lead: "Para entenderlo bien, ayuda saber de dónde viene.",
      body: [
        "La historia empieza antes de lo que mucha gente cree.",
        "Lo que comenzó como una pequeña observación fue creciendo poco a poco.",
        "Esa historia todavía influye en cómo lo vemos hoy."
      ],
      place: 0
    },
    {
      heading: "Cómo funciona",
      point: "cómo funciona en realidad",
      lead: "¿Y cómo funciona en realidad?",
      body: [
        "Todo se reduce a una cadena de causas y efectos fácil de seguir.",
        "Cada paso depende del anterior, y ahí es donde se pone interesante.",
        "Si cambias un eslabón de la cadena, el resultado puede ser muy distinto."
      ],
      place: 1
    },
    {
      heading: "Por qué importa",
      point: "por qué importa",
      lead: "¿Por qué debería importarte?",
      body: [
        "Aparece en más lugares de los que imaginamos.",
        "Aquí los pequeños detalles suelen tener grandes consecuencias.",
        "Y cuando sabes qué buscar, empiezas a verlo en todas partes."
      ],
      place: 1
    },
    {
      heading: "Un mito común",
      point: "un mito que conviene aclarar",
      lead: "También hay un mito que conviene aclarar.",
      body: [
        "Mucha gente da por buena la explicación más obvia, pero la respuesta real es más sutil.",
        "El error suele venir de mirar una sola pieza por separado.",
        "Si la devolvemos a su contexto, el mito se desmonta."
      ],
      place: 1
    },
    {
      heading: "La conclusión",
      point: "la conclusión",
      lead: "Entonces, ¿con qué nos quedamos?",
      body: [
        "Primero busca el patrón y después saca conclusiones.",
        "La próxima vez que salga el tema, sabrás qué preguntas hacer.",
        "Y ese hábito sirve para muchos otros temas."
      ],
      place: 2
    }
  ],
  listMarker: "Número {count}: {point}.",
  bridges: [
    "Detengámonos un momento aquí.",
    "Para entenderlo, hay que mirar más de cerca.",
    "Y aquí es donde la historia da un giro.",
    "Pero eso es solo una parte."
  ],
  asides: {
    upbeat: ["¿Increíble, verdad?", "Sinceramente, esta es la parte más divertida."],
    calm: ["Tómate un momento para asimilarlo.", "Vale la pena detenerse un segundo en esta idea."],
    neutral: ["Ten esto en cuenta para lo que viene."]
  },
  lenses: {
    general: [
      "Para quien sigue el mundo de {niche}, este es un punto clave.",
      "Si te interesa {niche}, seguro que ya te has cruzado con esta idea."
    ]
  },
  wrapUp: ["Y hasta aquí nuestro repaso de {topic}.", "Y esa es la versión corta de la historia."],
  questionWrapUp: ["Y esa es la respuesta a la pregunta de hoy."],
  subscribe: {
    upbeat: [
      "Si te ha gustado, suscríbete a {channel} y activa la campanita para no perderte nada. ¡Nos vemos en el próximo!"
    ],
    calm: ["Si te ha resultado útil, suscríbete a {channel} para ver más sobre {niche} con calma. Gracias por vernos."],
    neutral: ["Suscríbete a {channel} para ver más vídeos sobre {niche}. Gracias por vernos."]
  },
  commentPrompt: "¿Qué punto te sorprendió más? Cuéntanoslo en los comentarios.",
  headings: { intro: "Introducción", outro: "Cierre" },
  titles: {
    explainer: ["{Topic}, explicado", "{Topic}: lo que necesitas saber"],
    listicle: ["{n} cosas que debes saber sobre {topic}", "{Topic}: {n} puntos clave"],
    documentary: ["{Topic}: la historia completa", "{Topic}, de cerca"]
  },
  summaries: {
    explainer: "Un vídeo explicativo breve de {channel} sobre {topic}.",
    listicle: "{n} puntos clave sobre {topic}, de {channel}.",
    documentary: "Un breve documental de {channel} sobre {topic}."
  },
  inThisVideo: "En este vídeo",
  subscribeLine: "Suscríbete a {channel} para ver más sobre {niche}.",
  numberWords: ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez"],
  titleCase: false,
  capitalizedNouns: false,
  invertedQuestion: true,
  fallbackTopic: "este tema",
  stopwords: new Set(
    ("el la los las lo un una unos unas y e o u pero de del al a en por para con sin sobre entre que qué quién " +
      "cómo como cuándo cuando dónde donde cuál es son era fue ser está están se su sus le les me te nos mi tu " +
      "más muy ya no sí este esta estos estas ese esa hay tiene tienen explicado")
      .split(" ")
  )
}

const phrasebooks: Readonly<Record<string, Phrasebook>> = { en: english, de: german, es: spanish }

// ---------------------------------------------------------------------------------------------------------------
// Reading the channel and the topic

const styleFormat = (style: string): Format => {
  const text = style.toLowerCase()
  if (/list|top[\s-]*\d|top[\s-]*ten|countdown|ranking|ranked|\bfacts?\b|\bpunkte\b/u.test(text)) return "listicle"
  if (/docu|doku|story|stories|storytell|narrat|histor|cinematic|essay|geschicht|reportage/u.test(text)) {
    return "documentary"
  }
  return "explainer"
}

// "Top 5", "top-3": the number of points a listicle style asks for, when it is one the writer can make (3 to 5).
const listSize = (style: string): number | undefined => {
  const size = Number(/top[\s-]*(\d+)/iu.exec(style)?.[1])
  return size >= 3 && size <= 5 ? size : undefined
}

const styleMood = (style: string): Mood => {
  const text = style.toLowerCase()
  if (
    /upbeat|energ|fun\b|funny|playful|excit|hype|lively|enthusias|cheer|bold|fröhlich|lustig|alegre|divertid/u
      .test(text)
  ) return "upbeat"
  if (
    /calm|relax|sooth|gentle|quiet|measured|thoughtful|serious|slow|sober|reflect|ruhig|sachlich|tranquil|sereno/u.test(
      text
    )
  ) {
    return "calm"
  }
  return "neutral"
}

const nicheFamily = (niche: string): NicheFamily => {
  const text = niche.toLowerCase()
  if (/financ|money|invest|stock|crypto|budget|business|econom|career|real estate|saving|tax/u.test(text)) {
    return "finance"
  }
  if (/health|fitness|nutrition|workout|wellness|medic|sleep|mental|yoga|diet|exercise/u.test(text)) return "health"
  if (/food|cook|recipe|baking|cuisine|kitchen|coffee|wine|grill/u.test(text)) return "food"
  if (/histor|ancient|war\b|wars\b|mytholog|archaeolog|philosoph|civiliz|empire/u.test(text)) return "history"
  if (/tech|software|program|coding|\bai\b|artificial intelligence|computer|gadget|gaming|robot|internet/u.test(text)) {
    return "tech"
  }
  if (/scien|physic|space|astronom|biolog|chemi|nature|animal|ocean|climate|geolog|engineer|math/u.test(text)) {
    return "science"
  }
  return "general"
}

// Control characters, lone surrogates, private-use characters and YouTube's forbidden "<" and ">" become spaces;
// runs of white space become one space.
const clean = (text: string): string =>
  text.normalize("NFC").replace(/[\p{Cc}\p{Cs}\p{Co}<>]/gu, " ").replace(/\s+/gu, " ").trim()

// Emoji and what holds emoji sequences together (joiners, variation selectors, the keycap mark).
const pictographs =
  /\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|\p{Variation_Selector}|\u200D|\u20E3/gu

const withoutPictographs = (text: string): string => text.replace(pictographs, " ").replace(/\s+/gu, " ").trim()

const hasWordCharacter = (text: string): boolean => /[\p{L}\p{N}]/u.test(text)

// The first letter upper-cased, when the text starts with it (after opening brackets or quotes): "¿por" → "¿Por",
// but "4 key points" and "&amp;" are left as they are.
const capitalize = (text: string): string =>
  text.replace(
    /^([\p{Ps}\p{Pi}"'¿¡]*)(\p{Ll})/u,
    (_, opening: string, letter: string) => opening + letter.toUpperCase()
  )

// A text's first word, lowercased at its first letter when it is a capitalised function word ("Why", "The",
// "Die", "Los"), so that it reads well inside a sentence; names and acronyms are kept.
const inline = (text: string, book: Phrasebook): string => {
  const first = /^\p{Lu}\p{Ll}*/u.exec(text)?.[0]
  return first !== undefined && book.stopwords.has(first.toLowerCase())
    ? first.toLowerCase() + text.slice(first.length)
    : text
}

// A niche inside a sentence: as `inline`, and in languages that do not capitalise nouns, "Ancient history" reads
// "ancient history" (a capitalised first word followed by lowercase words); "Formula One" is kept.
const inlineNiche = (niche: string, book: Phrasebook): string => {
  const text = inline(niche, book)
  const [first, ...rest] = text.split(" ")
  return !book.capitalizedNouns && first !== undefined && /^\p{Lu}\p{Ll}+$/u.test(first) &&
      rest.some((word) => /^\p{Ll}/u.test(word))
    ? first.toLowerCase() + text.slice(first.length)
    : text
}

interface Subject {
  /** The topic without its final punctuation, for titles and descriptions (emoji kept). */
  readonly display: string
  /** The same, for speech (emoji left out). */
  readonly spoken: string
  /** Whether the topic is a question. */
  readonly question: boolean
}

const trailingPunctuation = /[\s.,;:!?¿¡…。？！]+$/u
const leadingPunctuation = /^[\s¿¡]+/u

const readSubject = (topic: string, niche: string, book: Phrasebook): Subject => {
  for (const [index, candidate] of [clean(topic), clean(niche)].entries()) {
    // Only the topic itself can be a question; the niche stands in for a topic as a plain phrase.
    const question = index === 0 && /[?？]\s*$/u.test(candidate)
    const display = candidate.replace(trailingPunctuation, "").replace(leadingPunctuation, "")
    const spoken = withoutPictographs(display)
    if (hasWordCharacter(spoken)) return { display, spoken, question }
    if (hasWordCharacter(display)) return { display, spoken: book.fallbackTopic, question: false }
  }
  return { display: capitalize(book.fallbackTopic), spoken: book.fallbackTopic, question: false }
}

const asQuestion = (text: string, book: Phrasebook): string => `${book.invertedQuestion ? "¿" : ""}${capitalize(text)}?`

// ---------------------------------------------------------------------------------------------------------------
// Text helpers

const fill = (template: string, values: Readonly<Record<string, string>>): string =>
  template.replace(/\{(\w+)\}/gu, (whole, key: string) => values[key] ?? whole)

const countWords = (text: string): number => text.split(/\s+/u).filter((word) => word.length > 0).length

const graphemes = new Intl.Segmenter("en", { granularity: "grapheme" })

// The longest prefix of whole graphemes (an emoji, a flag or a letter with its accents is never split) whose
// measure is at most `limit`, shortened to the last space when that keeps at least half of it (so a word is cut
// only when it alone is that long), with "…" when shortened. `measure` must be additive (a length, a byte count).
const shorten = (text: string, limit: number, measure: (text: string) => number): string => {
  if (measure(text) <= limit) return text
  const room = limit - measure("…")
  let head = ""
  let used = 0
  for (const { segment } of graphemes.segment(text)) {
    used += measure(segment)
    if (used > room) break
    head += segment
  }
  const space = head.search(/\s\S*$/u)
  const cut = space >= head.length / 2 ? head.slice(0, space) : head
  const trimmed = cut.replace(/[\s,;:–—-]+$/u, "")
  return `${trimmed.length > 0 ? trimmed : cut.trimEnd()}…`
}

const minorWords = new Set(
  "a an the and but or nor for so yet as at by in of off on per to up via vs from into onto over with than".split(" ")
)

// English title case: the first and last words and every word but a short function word ("of", "the", "vs.")
// start with a capital; words with a capital inside ("iPhone", "NASA", "McDonald") are kept as written.
const titleCase = (text: string): string => {
  const words = text.split(" ")
  return words.map((word, index) => {
    if (/.\p{Lu}/u.test(word)) return word
    const edge = index === 0 || index === words.length - 1
    if (!edge && minorWords.has(word.toLowerCase().replace(/[^\p{L}]/gu, ""))) return word.toLowerCase()
    return word.split("-").map(capitalize).join("-")
  }).join(" ")
}

// ---------------------------------------------------------------------------------------------------------------
// A small deterministic PRNG: FNV-1a over the seed text, then mulberry32.

const hash32 = (text: string): number => {
  let hash = 0x811c9dc5
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

interface Prng {
  readonly next: () => number
  readonly int: (min: number, max: number) => number
  readonly pick: <A>(items: readonly [A, ...Array<A>]) => A
  readonly shuffle: <A>(items: ReadonlyArray<A>) => Array<A>
}

const prng = (seed: number): Prng => {
  let state = seed
  const next = () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  return {
    next,
    int,
    pick: (items) => items[int(0, items.length - 1)] ?? items[0],
    shuffle: (items) => {
      const result = [...items]
      for (let index = result.length - 1; index > 0; index--) {
        const other = int(0, index)
        const item = result[index]!
        result[index] = result[other]!
        result[other] = item
      }
      return result
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Tags

const maxTags = 15
const maxTagLength = 30

const phraseTag = (text: string): string | undefined => {
  const tag = withoutPictographs(clean(text).replace(/[<>,"]/gu, " ")).toLowerCase().replace(trailingPunctuation, "")
    .replace(leadingPunctuation, "")
  return tag.length > 0 && tag.length <= maxTagLength && hasWordCharacter(tag) ? tag : undefined
}

const wordTags = (text: string, book: Phrasebook): Array<string> =>
  text.toLowerCase().split(/[^\p{L}\p{N}\p{M}]+/u).filter((word) =>
    [...word].length >= 3 && word.length <= maxTagLength && !book.stopwords.has(word) && !english.stopwords.has(word)
  )

const buildTags = (
  subject: Subject,
  channel: Channel.Channel,
  book: Phrasebook
): Array<string> => {
  const candidates = [
    phraseTag(subject.display),
    phraseTag(channel.niche),
    ...wordTags(subject.display, book),
    ...wordTags(channel.niche, book),
    phraseTag(channel.name)
  ]
  const tags: Array<string> = []
  const seen = new Set<string>()
  for (const candidate of candidates) {
    if (candidate === undefined || seen.has(candidate) || tags.length >= maxTags) continue
    if (Script.tagsLength([...tags, candidate]) > Script.limits.tagsLength) continue
    seen.add(candidate)
    tags.push(candidate)
  }
  return tags
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

interface Draft {
  readonly heading: string
  readonly sentences: Array<string>
  readonly rest: Array<string>
}

const paragraph = (sentences: ReadonlyArray<string>): string => sentences.join(" ")

const minTargetWords = 60

/**
 * Writes a script for a topic on a channel: pure and deterministic (the same channel, topic and video id give
 * the same script). {@link write} is the same as an Effect that also reports the usage.
 *
 * @category constructors
 */
export const compose = (input: Input, options: Options = {}): Script.Script => {
  const { channel, topic, videoId } = input
  const targetWords = Math.max(minTargetWords, Math.round(options.targetWords ?? defaultTargetWords))
  const base = channel.language.split("-")[0] ?? "en"
  const book = phrasebooks[base] ?? english
  const language = book === english && base !== "en" ? "en" : channel.language
  const random = prng(
    hash32(JSON.stringify([channel.id, channel.name, channel.niche, channel.style, channel.language, topic, videoId]))
  )

  const format = styleFormat(channel.style)
  const mood = styleMood(channel.style)
  const family = nicheFamily(channel.niche)
  const subject = readSubject(topic, channel.niche, book)
  const channelName = clean(channel.name) || clean(channel.id)
  const niche = inlineNiche(withoutPictographs(clean(channel.niche)) || book.fallbackTopic, book)

  // How many points: as many as the words allow, three to five.
  const bodyWords = targetWords - 60
  const most = Math.min(5, Math.max(3, Math.floor(bodyWords / 25)), book.angles.length)
  const least = Math.min(most, Math.max(3, Math.floor(bodyWords / 45)))
  const count = format === "listicle" ? listSize(channel.style) ?? random.int(least, most) : random.int(least, most)
  const angles = random.shuffle(book.angles).slice(0, count).toSorted((a, b) => a.place - b.place)

  const spokenTopic = inline(subject.spoken, book)
  const values = {
    topic: spokenTopic,
    question: asQuestion(spokenTopic, book),
    channel: channelName,
    niche,
    count: book.numberWords[count] ?? String(count),
    n: String(count)
  }

  // Intro: a hook that names the topic, a welcome, a preview.
  const intro = [
    fill(random.pick(subject.question ? book.questionHooks[mood] : book.hooks[mood]), values),
    fill(random.pick(book.welcome), values),
    fill(random.pick(book.preview[format]), values)
  ]

  // Body: one paragraph per angle, framed by the format.
  const bridges = random.shuffle(book.bridges)
  const drafts: Array<Draft> = angles.map((angle, index) => {
    const [first, ...rest] = angle.body
    const opening = format === "listicle"
      ? [
        capitalize(
          fill(book.listMarker, { count: book.numberWords[index + 1] ?? String(index + 1), point: angle.point })
        )
      ]
      : format === "documentary" && index > 0
      ? [bridges[(index - 1) % bridges.length] ?? book.bridges[0], angle.lead]
      : [angle.lead]
    return {
      heading: format === "listicle" ? `${index + 1}. ${angle.heading}` : angle.heading,
      sentences: [...opening, first],
      rest
    }
  })

  // The niche shows through one remark always, and a second one when the length allows; the style through an
  // aside in a paragraph that is not the last.
  const lens = book.lenses[family] ?? book.lenses.general
  const lensAt = random.shuffle(drafts.map((_, index) => index))
  drafts[lensAt[0] ?? 0]?.sentences.push(fill(lens[0], values))
  drafts[lensAt[1] ?? 0]?.rest.push(fill(lens[1], values))
  drafts[random.int(0, drafts.length - 2)]?.sentences.push(random.pick(book.asides[mood]))

  // Outro: a wrap-up, the call to subscribe, and for a listicle a question for the comments.
  const outro = [
    fill(random.pick(subject.question ? book.questionWrapUp : book.wrapUp), values),
    fill(random.pick(book.subscribe[mood]), values),
    ...(format === "listicle" ? [book.commentPrompt] : [])
  ]

  // Grow the paragraphs in turn, a sentence at a time, until the narration reaches its target.
  let words = [...intro, ...outro, ...drafts.flatMap((draft) => draft.sentences)].reduce(
    (total, sentence) => total + countWords(sentence),
    0
  )
  let grew = true
  while (words < targetWords && grew) {
    grew = false
    for (const draft of drafts) {
      if (words >= targetWords) break
      const next = draft.rest.shift()
      if (next === undefined) continue
      draft.sentences.push(next)
      words += countWords(next)
      grew = true
    }
  }

  const sections = [
    { heading: book.headings.intro, text: paragraph(intro) },
    ...drafts.map((draft) => ({ heading: draft.heading, text: paragraph(draft.sentences) })),
    { heading: book.headings.outro, text: paragraph(outro) }
  ]

  const title = buildTitle(subject, format, count, book, random)
  const tags = buildTags(subject, channel, book)
  const description = buildDescription({
    title,
    summary: fill(book.summaries[format], { ...values, topic: inline(subject.display, book) }),
    headings: drafts.map((draft) => draft.heading),
    subscribe: fill(book.subscribeLine, values),
    tags,
    book
  })

  return new Script.Script({
    title,
    description,
    tags,
    language,
    narration: sections.map((section) => section.text),
    scenes: sections.map((section) =>
      new Script.Scene({ heading: section.heading, text: section.text, weight: Math.max(1, countWords(section.text)) })
    )
  })
}

const buildTitle = (subject: Subject, format: Format, count: number, book: Phrasebook, random: Prng): string => {
  const limit = Script.limits.titleLength
  const cased = book.titleCase ? titleCase(subject.display) : subject.display
  const topicOnly = subject.question ? asQuestion(cased, book) : capitalize(cased)
  // A question is its own title; other topics go into one of the format's patterns.
  const pattern = random.pick(book.titles[format])
  const filled = fill(pattern, { Topic: capitalize(cased), topic: inline(cased, book), n: String(count) })
  const chosen = subject.question ? topicOnly : book.titleCase ? titleCase(filled) : filled
  return chosen.length <= limit ? chosen : shorten(topicOnly, limit, (text) => text.length)
}

const buildDescription = (parts: {
  readonly title: string
  readonly summary: string
  readonly headings: ReadonlyArray<string>
  readonly subscribe: string
  readonly tags: ReadonlyArray<string>
  readonly book: Phrasebook
}): string => {
  const hashtags = parts.tags.filter((tag) => /^[\p{L}\p{N}]+$/u.test(tag)).slice(0, 3).map((tag) => `#${tag}`)
  const text = [
    parts.title,
    "",
    capitalize(parts.summary),
    "",
    `${parts.book.inThisVideo}:`,
    ...parts.headings.map((heading) => `• ${heading}`),
    "",
    parts.subscribe,
    ...(hashtags.length > 0 ? ["", hashtags.join(" ")] : [])
  ].join("\n")
  return shorten(text, Script.limits.descriptionBytes, Script.utf8Length)
}

/**
 * Writes a script (see {@link compose}) and reports what it used: the time it took, measured with `Clock` and
 * rounded up to whole milliseconds, as `compute.cpu-hour` usage (the local tier bills compute time; the work is
 * synchronous and CPU-bound, so its wall-clock time is its CPU time, well under a millisecond to a few). Under
 * `TestClock` no time passes, so the usage is 0 ms and costs nothing.
 *
 * @category constructors
 */
export const write = Effect.fn("LocalScriptWriter.write")(function*(input: Input, options?: Options) {
  const started = yield* Clock.currentTimeNanos
  const script = compose(input, options)
  const finished = yield* Clock.currentTimeNanos
  const cpuMillis = Math.max(0, Math.ceil(Number(finished - started) / 1_000_000))
  yield* Effect.annotateCurrentSpan({
    "ytempire.video.id": input.videoId,
    "ytempire.channel.id": input.channel.id,
    "ytempire.script.characters": Script.characters(script)
  })
  const written: Written = { script, usage: [Pricing.use("compute.cpu-hour", cpuMillis)] }
  return written
})
