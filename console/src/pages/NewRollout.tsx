/**
 * Starting a firmware rollout: `POST /projects/{id}/firmwareRollouts` from a
 * form — which bundle to which device class, which of those devices, the
 * stages (percent and soak minutes), the pace, the abort rule, the device
 * timeout and the delivery. What the form cannot read (an empty name, a word
 * where a number goes) is said before anything is sent; what the service
 * refuses (`400 INVALID_INPUT`, `data.errors` by field) is said beside the
 * field it names, in the service's words.
 */
import { useRef, useState } from "preact/hooks";
import { ApiError, get, request } from "../api";
import { Section, useData } from "../components/ui";
import { go, href } from "../router";
import type { Session } from "../session";
import type { Bundle, DeviceClass, NewRollout as NewRolloutBody, Rollout } from "../types";
import { rolloutsPath } from "./Rollouts";

interface StageDraft {
  /** Stable across edits, for the list's keys. */
  key: number;
  percent: string;
  soak: string;
}

const DEFAULT_STAGES: [number, number][] = [
  [10, 30],
  [50, 60],
  [100, 0],
];
const MAX_STAGES = 20;

/** Field (as the service names it) → the id of the control it belongs to, in the form's order. */
const FIELD_IDS: [string, string][] = [
  ["name", "rollout-name"],
  ["bundleId", "rollout-bundle"],
  ["deviceClass", "rollout-class"],
  ["selector.channel", "rollout-sel-channel"],
  ["selector.tags", "rollout-sel-tags"],
  ["selector.homeIds", "rollout-sel-homes"],
  ["selector.fromBundles", "rollout-sel-from"],
  ["stages", "rollout-add-stage"],
  ...Array.from({ length: MAX_STAGES }, (_, i): [string, string][] => [
    [`stages.${i}.percent`, `stage-${i}-percent`],
    [`stages.${i}.soakMinutes`, `stage-${i}-soak`],
  ]).flat(),
  ["maxPerMinute", "rollout-max-per-minute"],
  ["abort.failurePercent", "rollout-abort-percent"],
  ["abort.minDevices", "rollout-abort-min"],
  ["deviceTimeoutMinutes", "rollout-timeout"],
  ["delivery", "rollout-delivery-command"],
  ["channel", "rollout-channel"],
];
const KNOWN = new Map(FIELD_IDS);

/** Lists whose items the service names by index (`selector.tags.2`): said on the list's field, as "item 3". */
const LISTS: Record<string, string> = { "selector.tags": "tag", "selector.homeIds": "home id", "selector.fromBundles": "bundle" };

type Errors = Record<string, string>;

/** The service's `data.errors` sorted onto the form's fields; what matches none stays in `other`. */
export function fieldErrors(errors: Record<string, unknown>): { fields: Errors; other: string[] } {
  const fields: Errors = {};
  const other: string[] = [];
  for (const [key, why] of Object.entries(errors)) {
    const text = String(why);
    const item = /^(selector\.(?:tags|homeIds|fromBundles))\.(\d+)$/.exec(key);
    const stage = /^stages\.(\d+)(?:\.(.*))?$/.exec(key);
    if (KNOWN.has(key)) fields[key] = fields[key] ? `${fields[key]}; ${text}` : text;
    else if (item) {
      const list = item[1]!;
      const said = `${LISTS[list]} ${Number(item[2]) + 1}: ${text}`;
      fields[list] = fields[list] ? `${fields[list]}; ${said}` : said;
    } else if (stage && KNOWN.has(`stages.${stage[1]}.percent`)) {
      const said = `stage ${Number(stage[1]) + 1}${stage[2] ? ` (${stage[2]})` : ""}: ${text}`;
      fields.stages = fields.stages ? `${fields.stages}; ${said}` : said;
    } else if (key.startsWith("abort") || key.startsWith("selector")) {
      // e.g. a whole object refused: said on its first field.
      const first = key.startsWith("abort") ? "abort.failurePercent" : "selector.channel";
      fields[first] = fields[first] ? `${fields[first]}; ${text}` : text;
    } else other.push(`${key}: ${text}`);
  }
  return { fields, other };
}

/** A comma-separated list typed by the user: its non-empty items, trimmed. */
const items = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

export function NewRollout({ session }: { session: Session }) {
  const projectBase = `/projects/${session.project.id}`;
  const bundles = useData(async () => (await get<Bundle[]>(`${projectBase}/firmware/bundles?limit=1000`)).reverse(), [session.key]);
  const classes = useData(() => get<DeviceClass[]>(`${projectBase}/deviceClasses`), [session.key]);

  const [name, setName] = useState("");
  const [bundleId, setBundleId] = useState("");
  const [deviceClass, setDeviceClass] = useState("");
  const [selChannel, setSelChannel] = useState("");
  const [selTags, setSelTags] = useState("");
  const [selHomes, setSelHomes] = useState("");
  const [selFrom, setSelFrom] = useState("");
  const nextKey = useRef(DEFAULT_STAGES.length);
  const [stages, setStages] = useState<StageDraft[]>(() => DEFAULT_STAGES.map(([p, s], key) => ({ key, percent: String(p), soak: String(s) })));
  const [maxPerMinute, setMaxPerMinute] = useState("");
  const [failurePercent, setFailurePercent] = useState("20");
  const [minDevices, setMinDevices] = useState("5");
  const [timeout, setTimeoutMinutes] = useState("60");
  const [delivery, setDelivery] = useState<"command" | "channel">("command");
  const [channel, setChannel] = useState("");

  const [errors, setErrors] = useState<Errors>({});
  const [other, setOther] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  /** The body, or the errors of what cannot be read. */
  function read(): { body: NewRolloutBody } | { errors: Errors } {
    const errs: Errors = {};
    const num = (text: string, field: string, optional = false): number | undefined => {
      const t = text.trim();
      if (t === "") {
        if (!optional) errs[field] = "required";
        return undefined;
      }
      const n = Number(t);
      if (!Number.isFinite(n)) errs[field] = "must be a number";
      return n;
    };
    if (!name.trim()) errs.name = "required";
    if (!bundleId) errs.bundleId = "choose a bundle";
    if (!deviceClass) errs.deviceClass = "choose a device class";
    const homeIds = items(selHomes);
    if (homeIds.some((h) => !/^\d+$/.test(h))) errs["selector.homeIds"] = "home ids are whole numbers, separated by commas";
    const parsedStages = stages.map((s, i) => ({ percent: num(s.percent, `stages.${i}.percent`)!, soakMinutes: num(s.soak, `stages.${i}.soakMinutes`)! }));
    const body: NewRolloutBody = {
      name: name.trim(),
      bundleId,
      deviceClass,
      stages: parsedStages,
      abort: { failurePercent: num(failurePercent, "abort.failurePercent")!, minDevices: num(minDevices, "abort.minDevices")! },
      deviceTimeoutMinutes: num(timeout, "deviceTimeoutMinutes")!,
      delivery,
    };
    const perMinute = num(maxPerMinute, "maxPerMinute", true);
    if (perMinute !== undefined) body.maxPerMinute = perMinute;
    if (delivery === "channel") {
      if (!channel.trim()) errs.channel = "required when delivery is channel";
      body.channel = channel.trim();
    }
    const selector: NonNullable<NewRolloutBody["selector"]> = {};
    if (selChannel.trim()) selector.channel = selChannel.trim();
    if (items(selTags).length) selector.tags = items(selTags);
    if (homeIds.length) selector.homeIds = homeIds.map(Number);
    if (items(selFrom).length) selector.fromBundles = items(selFrom);
    if (Object.keys(selector).length) body.selector = selector;
    return Object.keys(errs).length ? { errors: errs } : { body };
  }

  /** Shows the errors and moves focus to the first field with one. */
  function show(fields: Errors, rest: string[]) {
    setErrors(fields);
    setOther(rest);
    const first = FIELD_IDS.find(([f]) => fields[f]);
    if (first) window.setTimeout(() => document.getElementById(first[1])?.focus(), 0);
  }

  async function submit(e: Event) {
    e.preventDefault();
    const parsed = read();
    if ("errors" in parsed) return show(parsed.errors, []);
    setBusy(true);
    show({}, []);
    try {
      const a = await request<Rollout>("POST", rolloutsPath(session), parsed.body);
      go(`rollouts/${a.body.id}`);
    } catch (err) {
      if (err instanceof ApiError && err.reason === "INVALID_INPUT" && err.data?.errors && typeof err.data.errors === "object") {
        const { fields, other } = fieldErrors(err.data.errors as Record<string, unknown>);
        show(fields, other);
      } else if (err instanceof ApiError && err.reason === "LIMIT_REACHED") {
        show({}, [`Too many devices for one rollout: at most ${String(err.data?.max ?? "?")} (limit ${String(err.data?.limit ?? "")}). Narrow the choice of devices.`]);
      } else show({}, [err instanceof Error ? err.message : String(err)]);
    } finally {
      setBusy(false);
    }
  }

  /** Props that tie a control to its error (and a hint's id), so a screen reader says both. */
  const described = (field: string, id: string, hint?: string) => {
    const ids = [hint ?? "", errors[field] ? `${id}-error` : ""].filter(Boolean).join(" ");
    return { id, "aria-invalid": errors[field] ? true : undefined, "aria-describedby": ids || undefined };
  };
  const errorOf = (field: string, id: string) =>
    errors[field] ? (
      <p class="field-error" id={`${id}-error`}>
        {errors[field]}
      </p>
    ) : null;

  const updateStage = (i: number, change: Partial<StageDraft>) => setStages((list) => list.map((s, j) => (j === i ? { ...s, ...change } : s)));
  /** Adding or removing a stage renumbers those after it: their errors no longer point at the right row. */
  const clearStageErrors = () => setErrors((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !k.startsWith("stages"))));
  const count = Object.keys(errors).length + other.length;

  return (
    <>
      <p class="crumbs">
        <a href={href("rollouts")}>Rollouts</a> / new
      </p>
      <h1>New rollout</h1>
      <form class="rollout-form" noValidate onSubmit={submit} aria-label="New rollout">
        <Section title="What goes where">
          <div class="form-grid">
            <div class="field">
              <label for="rollout-name">Name</label>
              <input {...described("name", "rollout-name")} required placeholder="e.g. valve firmware 2.1" value={name} onInput={(e) => setName(e.currentTarget.value)} />
              {errorOf("name", "rollout-name")}
            </div>
            <div class="field">
              <label for="rollout-bundle">Bundle</label>
              <select {...described("bundleId", "rollout-bundle")} required value={bundleId} onChange={(e) => setBundleId(e.currentTarget.value)}>
                <option value="">Choose a bundle…</option>
                {bundles.data?.map((b) => (
                  <option key={b.bundleId} value={b.bundleId}>
                    {b.bundleId} (registered {new Date(b.creationTime).toLocaleDateString()})
                  </option>
                ))}
              </select>
              {bundles.data?.length === 0 && <p class="hint">No bundles registered yet: register one with POST {projectBase}/firmware/bundles.</p>}
              {errorOf("bundleId", "rollout-bundle")}
            </div>
            <div class="field">
              <label for="rollout-class">Device class</label>
              <select {...described("deviceClass", "rollout-class")} required value={deviceClass} onChange={(e) => setDeviceClass(e.currentTarget.value)}>
                <option value="">Choose a device class…</option>
                {classes.data?.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({c.id})
                  </option>
                ))}
              </select>
              {errorOf("deviceClass", "rollout-class")}
            </div>
          </div>
          {(bundles.error || classes.error) && (
            <p class="error" role="alert">
              {String((bundles.error as Error | null)?.message ?? (classes.error as Error).message)}
            </p>
          )}
        </Section>

        <Section title="Which devices">
          <p class="hint">
            Every device of the class, unless you narrow it: each field you fill narrows the choice further. Lists are separated by commas.
          </p>
          <div class="form-grid">
            <div class="field">
              <label for="rollout-sel-channel">On channel</label>
              <input {...described("selector.channel", "rollout-sel-channel")} placeholder="any channel" value={selChannel} onInput={(e) => setSelChannel(e.currentTarget.value)} />
              {errorOf("selector.channel", "rollout-sel-channel")}
            </div>
            <div class="field">
              <label for="rollout-sel-tags">With one of the tags</label>
              <input {...described("selector.tags", "rollout-sel-tags")} placeholder="e.g. beta, lab" value={selTags} onInput={(e) => setSelTags(e.currentTarget.value)} />
              {errorOf("selector.tags", "rollout-sel-tags")}
            </div>
            <div class="field">
              <label for="rollout-sel-homes">In one of the homes (ids)</label>
              <input {...described("selector.homeIds", "rollout-sel-homes")} inputMode="numeric" placeholder="e.g. 12, 40" value={selHomes} onInput={(e) => setSelHomes(e.currentTarget.value)} />
              {errorOf("selector.homeIds", "rollout-sel-homes")}
            </div>
            <div class="field">
              <label for="rollout-sel-from">Running one of the bundles</label>
              <input {...described("selector.fromBundles", "rollout-sel-from")} placeholder="e.g. fw-1.9, fw-2.0" value={selFrom} onInput={(e) => setSelFrom(e.currentTarget.value)} />
              {errorOf("selector.fromBundles", "rollout-sel-from")}
            </div>
          </div>
        </Section>

        <Section title="Stages">
          <p class="hint">
            Each stage reaches a larger share of the chosen devices (the same ones as before, and more); the next stage starts once its soak time has passed. The
            last stage is usually 100 %.
          </p>
          <ol class="stage-list" aria-label="Stages">
            {stages.map((s, i) => (
              <li key={s.key} class="stage-row" data-stage={i}>
                <span class="stage-name" id={`stage-${i}-name`}>
                  Stage {i + 1}
                </span>
                <div class="field">
                  <label for={`stage-${i}-percent`}>
                    Percent of devices<span class="sr-only">, stage {i + 1}</span>
                  </label>
                  <input
                    {...described(`stages.${i}.percent`, `stage-${i}-percent`)}
                    type="number"
                    inputMode="decimal"
                    step="any"
                    required
                    value={s.percent}
                    onInput={(e) => updateStage(i, { percent: e.currentTarget.value })}
                  />
                  {errorOf(`stages.${i}.percent`, `stage-${i}-percent`)}
                </div>
                <div class="field">
                  <label for={`stage-${i}-soak`}>
                    Soak minutes<span class="sr-only">, stage {i + 1}</span>
                  </label>
                  <input
                    {...described(`stages.${i}.soakMinutes`, `stage-${i}-soak`)}
                    type="number"
                    inputMode="decimal"
                    step="any"
                    required
                    value={s.soak}
                    onInput={(e) => updateStage(i, { soak: e.currentTarget.value })}
                  />
                  {errorOf(`stages.${i}.soakMinutes`, `stage-${i}-soak`)}
                </div>
                <button
                  type="button"
                  class="danger"
                  aria-label={`Remove stage ${i + 1}`}
                  disabled={stages.length === 1}
                  onClick={() => {
                    clearStageErrors();
                    setStages((list) => list.filter((_, j) => j !== i));
                  }}
                >
                  Remove
                </button>
              </li>
            ))}
          </ol>
          <button
            type="button"
            {...described("stages", "rollout-add-stage")}
            disabled={stages.length >= MAX_STAGES}
            onClick={() => {
              clearStageErrors();
              setStages((list) => [...list, { key: nextKey.current++, percent: "", soak: "0" }]);
            }}
          >
            Add stage
          </button>
          {errorOf("stages", "rollout-add-stage")}
        </Section>

        <Section title="Pace and safety">
          <div class="form-grid">
            <div class="field">
              <label for="rollout-max-per-minute">Devices started per minute, at most</label>
              <input
                {...described("maxPerMinute", "rollout-max-per-minute")}
                type="number"
                inputMode="numeric"
                min={1}
                step={1}
                placeholder="no limit"
                value={maxPerMinute}
                onInput={(e) => setMaxPerMinute(e.currentTarget.value)}
              />
              {errorOf("maxPerMinute", "rollout-max-per-minute")}
            </div>
            <div class="field">
              <label for="rollout-timeout">Device timeout (minutes)</label>
              <input
                {...described("deviceTimeoutMinutes", "rollout-timeout", "rollout-timeout-hint")}
                type="number"
                inputMode="decimal"
                step="any"
                required
                value={timeout}
                onInput={(e) => setTimeoutMinutes(e.currentTarget.value)}
              />
              <p class="hint" id="rollout-timeout-hint">
                A device that has not reported the bundle by then has timed out.
              </p>
              {errorOf("deviceTimeoutMinutes", "rollout-timeout")}
            </div>
          </div>
          <fieldset class="group">
            <legend>Abort</legend>
            <p class="hint" id="rollout-abort-hint">
              The rollout stops by itself when this share of the finished devices failed, once at least this many have finished.
            </p>
            <div class="form-grid">
              <div class="field">
                <label for="rollout-abort-percent">Failure percent</label>
                <input
                  {...described("abort.failurePercent", "rollout-abort-percent", "rollout-abort-hint")}
                  type="number"
                  inputMode="decimal"
                  step="any"
                  required
                  value={failurePercent}
                  onInput={(e) => setFailurePercent(e.currentTarget.value)}
                />
                {errorOf("abort.failurePercent", "rollout-abort-percent")}
              </div>
              <div class="field">
                <label for="rollout-abort-min">Minimum finished devices</label>
                <input
                  {...described("abort.minDevices", "rollout-abort-min", "rollout-abort-hint")}
                  type="number"
                  inputMode="numeric"
                  step={1}
                  required
                  value={minDevices}
                  onInput={(e) => setMinDevices(e.currentTarget.value)}
                />
                {errorOf("abort.minDevices", "rollout-abort-min")}
              </div>
            </div>
          </fieldset>
        </Section>

        <Section title="Delivery">
          <fieldset class="modes">
            <legend>How devices get the bundle</legend>
            <label>
              <input
                type="radio"
                name="delivery"
                id="rollout-delivery-command"
                value="command"
                checked={delivery === "command"}
                onChange={() => setDelivery("command")}
              />{" "}
              Command: each device gets a queued _firmwareUpdate_ command to download the bundle's image
            </label>
            <label>
              <input type="radio" name="delivery" id="rollout-delivery-channel" value="channel" checked={delivery === "channel"} onChange={() => setDelivery("channel")} />{" "}
              Channel: each device is moved to a channel and downloads from it itself
            </label>
          </fieldset>
          {errorOf("delivery", "rollout-delivery-command")}
          <div class="field">
            <label for="rollout-channel">Channel name</label>
            <input
              {...described("channel", "rollout-channel")}
              disabled={delivery !== "channel"}
              required={delivery === "channel"}
              placeholder={delivery === "channel" ? "e.g. fw-2-beta" : "only for channel delivery"}
              value={channel}
              onInput={(e) => setChannel(e.currentTarget.value)}
            />
            {errorOf("channel", "rollout-channel")}
          </div>
        </Section>

        <div class="submit-row">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Starting…" : "Start rollout"}
          </button>
          <a class="button" href={href("rollouts")}>
            Back to rollouts
          </a>
          {count > 0 && (
            <div class="error" role="alert" id="rollout-form-errors">
              <p>
                Not started: {count === 1 ? "one thing needs" : `${count} things need`} attention
                {Object.keys(errors).length > 0 ? " (said beside each field)" : ""}.
              </p>
              {other.length > 0 && (
                <ul>
                  {other.map((o) => (
                    <li key={o}>{o}</li>
                  ))}
                </ul>
              )}
            </div>
          )}
        </div>
      </form>
    </>
  );
}
