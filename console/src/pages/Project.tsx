/**
 * For the operator and admin keys: the project's API keys and device classes,
 * and a new device with its key and the line that starts the simulated device.
 * The operator may also start another project here.
 */
import { useRef, useState } from "preact/hooks";
import { get, request } from "../api";
import { DataTable } from "../components/DataTable";
import { NewProject } from "../components/NewProject";
import { Copyable, ErrorNote, Section, time, useData } from "../components/ui";
import type { Session } from "../session";
import type { ApiKey, Device, DeviceClass } from "../types";

interface NewDevice extends Device {
  apiKey: string;
  claimCode?: string;
}

export function Project({ session, onSignIn }: { session: Session; onSignIn: (s: Session) => void }) {
  const base = `/projects/${session.project.id}`;
  const keys = useData(() => get<(ApiKey & { creationTime: string })[]>(`${base}/apiKeys`), [session.key]);
  const classes = useData(() => get<DeviceClass[]>(`${base}/deviceClasses`), [session.key]);
  const [keyName, setKeyName] = useState("");
  const [keyAdmin, setKeyAdmin] = useState(false);
  const [newKey, setNewKey] = useState<ApiKey | null>(null);
  const [classId, setClassId] = useState("");
  const [className, setClassName] = useState("");
  const [deviceClass, setDeviceClass] = useState("");
  const [deviceName, setDeviceName] = useState("");
  const [deviceTag, setDeviceTag] = useState("");
  const [newDevice, setNewDevice] = useState<NewDevice | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [keyError, setKeyError] = useState<unknown>(null);
  const [classError, setClassError] = useState<unknown>(null);
  const [deviceError, setDeviceError] = useState<unknown>(null);
  const newKeyNote = useRef<HTMLDivElement>(null);
  const newDeviceNote = useRef<HTMLDivElement>(null);
  const classChosen = deviceClass || classes.data?.[0]?.id || "";

  /** Runs a form's call; a refusal shows beside that form. */
  const within = (set: (e: unknown) => void) => async (fn: () => Promise<void>) => {
    set(null);
    try {
      await fn();
    } catch (e) {
      set(e);
    }
  };

  const attempt = async (fn: () => Promise<void>) => {
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <>
      <h1>Keys, classes and devices</h1>
      <ErrorNote error={error} />
      <Section title="API keys">
        <ErrorNote error={keys.error} />
        {newKey && (
          <div class="callout" role="status" tabIndex={-1} ref={newKeyNote} data-new-key>
            <p>
              New key <strong>{newKey.name}</strong> — shown only now, copy it:
            </p>
            <Copyable id="new-key" text={newKey.key ?? ""} label={`Copy the key ${newKey.name}`} />
          </div>
        )}
        <DataTable
          label="API keys"
          stack
          rows={keys.data}
          rowKey={(k) => k.id}
          columns={[
            { head: "ID", cell: (k) => k.id },
            { head: "Name", cell: (k) => k.name },
            { head: "Admin", cell: (k) => (k.admin ? "yes" : "no") },
            { head: "Created", cell: (k) => time(k.creationTime) },
            {
              head: "Actions",
              srOnly: true,
              class: "actions",
              cell: (k) => (
                <button
                  type="button"
                  class="danger"
                  aria-label={`Delete key ${k.name}`}
                  onClick={() =>
                    void attempt(async () => {
                      if (!confirm(`Delete the key "${k.name}"? Whatever uses it stops working.`)) return;
                      await request("DELETE", `${base}/apiKeys/${k.id}`);
                      keys.reload();
                    })
                  }
                >
                  Delete
                </button>
              ),
            },
          ]}
        />
        <form
          class="row-form"
          onSubmit={(e) => {
            e.preventDefault();
            void within(setKeyError)(async () => {
              const a = await request<ApiKey>("POST", `${base}/apiKeys`, { name: keyName, admin: keyAdmin });
              setNewKey(a.body);
              setKeyName("");
              keys.reload();
              setTimeout(() => newKeyNote.current?.focus(), 0);
            });
          }}
        >
          <div class="field grow">
            <label for="key-name">Key name</label>
            <input id="key-name" required value={keyName} onInput={(e) => setKeyName(e.currentTarget.value)} />
          </div>
          <label class="check">
            <input type="checkbox" checked={keyAdmin} onChange={(e) => setKeyAdmin(e.currentTarget.checked)} /> Admin
          </label>
          <button type="submit">Create key</button>
        </form>
        <ErrorNote error={keyError} />
      </Section>
      <Section title="Device classes">
        <ErrorNote error={classes.error} />
        <DataTable
          label="Device classes"
          rows={classes.data}
          rowKey={(c) => c.id}
          columns={[
            { head: "ID", cell: (c) => <code>{c.id}</code> },
            { head: "Name", cell: (c) => c.name },
          ]}
        />
        <form
          class="row-form"
          onSubmit={(e) => {
            e.preventDefault();
            void within(setClassError)(async () => {
              await request("POST", `${base}/deviceClasses`, { id: classId, name: className });
              setClassId("");
              setClassName("");
              classes.reload();
            });
          }}
        >
          <div class="field">
            <label for="class-id">Class ID</label>
            <input id="class-id" required value={classId} onInput={(e) => setClassId(e.currentTarget.value)} />
          </div>
          <div class="field grow">
            <label for="class-name">Class name</label>
            <input id="class-name" required value={className} onInput={(e) => setClassName(e.currentTarget.value)} />
          </div>
          <button type="submit">Add class</button>
        </form>
        <ErrorNote error={classError} />
      </Section>
      <Section title="New device">
        {newDevice && (
          <div class="callout" role="status" tabIndex={-1} ref={newDeviceNote} data-new-device={newDevice.id}>
            <p>
              Device <strong>#{newDevice.id}</strong> ({newDevice.deviceClass}
              {newDevice.name ? `, ${newDevice.name}` : ""}) is made. Its key is shown only now: copy it.
            </p>
            <Copyable id="new-device-key" text={newDevice.apiKey} label={`Copy device ${newDevice.id}'s key`} />
            {newDevice.claimCode && (
              <>
                <p>Its claim code, for a user adding it to a home:</p>
                <Copyable id="new-device-claim" text={newDevice.claimCode} label={`Copy device ${newDevice.id}'s claim code`} />
              </>
            )}
            <p>Run it as the simulated device, from a checkout of this project:</p>
            <Copyable
              id="new-device-run"
              text={`npm run device -- --url ${location.origin} --id ${newDevice.id} --key ${newDevice.apiKey}`}
              label="Copy the command that runs the simulated device"
            />
          </div>
        )}
        {classes.data?.length === 0 ? (
          <p class="hint">Add a device class first: every device has one.</p>
        ) : (
          <form
            class="row-form"
            aria-label="New device"
            onSubmit={(e) => {
              e.preventDefault();
              void within(setDeviceError)(async () => {
                const body = { projectId: session.project.id, deviceClass: classChosen, ...(deviceName.trim() ? { name: deviceName.trim() } : {}), ...(deviceTag.trim() ? { tag: deviceTag.trim() } : {}) };
                const a = await request<NewDevice>("POST", "/devices", body);
                setNewDevice(a.body);
                setDeviceName("");
                setDeviceTag("");
                setTimeout(() => newDeviceNote.current?.focus(), 0);
              });
            }}
          >
            <div class="field">
              <label for="device-class">Class</label>
              <select id="device-class" required value={classChosen} onChange={(e) => setDeviceClass(e.currentTarget.value)}>
                {(classes.data ?? []).map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({c.id})
                  </option>
                ))}
              </select>
            </div>
            <div class="field grow">
              <label for="device-name">Name (optional)</label>
              <input id="device-name" value={deviceName} onInput={(e) => setDeviceName(e.currentTarget.value)} />
            </div>
            <div class="field">
              <label for="device-tag">Tag (optional, e.g. a serial number)</label>
              <input id="device-tag" value={deviceTag} onInput={(e) => setDeviceTag(e.currentTarget.value)} />
            </div>
            <button type="submit">Create device</button>
          </form>
        )}
        <ErrorNote error={deviceError} />
      </Section>
      {session.isOperator && <NewProject onSignIn={onSignIn} />}
    </>
  );
}
