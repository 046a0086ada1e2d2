/**
 * Priority classes, shared by channels (whose videos go first when money or GPU time is short) and GPU jobs
 * (which queue by class, with aging so that no class starves).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * `critical` channels keep producing under hard budget control; `low` ones are paused first.
 *
 * @category models
 */
export const PriorityClass = Schema.Literals(["critical", "high", "normal", "low"])
/** @category models */
export type PriorityClass = typeof PriorityClass.Type

/**
 * The classes from most to least urgent.
 *
 * @category constants
 */
export const all: ReadonlyArray<PriorityClass> = ["critical", "high", "normal", "low"]

/**
 * A class's rank: 0 for `critical` up to 3 for `low`; a lower rank goes first.
 *
 * @category utils
 */
export const rank = (priority: PriorityClass): number => all.indexOf(priority)
