/**
 * The typed client (client/api.ts) is what client/generate.ts makes of the
 * document the worker serves: regenerate it with `npm run client:generate`
 * (vitest's -u on this file) after changing a route or a schema.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import type { Device, Error as ErrorBody, RequestBody, ResponseBody, SuccessBody, UpdateDevice } from "../client/api";
import { generateClient, type OpenApiDocument, typeOf } from "../client/generate";
import { get } from "./helpers/api";

describe("client/api.ts", () => {
  it("is current with /openapi.json (else: npm run client:generate, and commit client/api.ts)", async () => {
    const doc = (await get("/openapi.json")).body as OpenApiDocument;
    await expect(generateClient(doc), "client/api.ts is stale: run npm run client:generate and commit it").toMatchFileSnapshot("../client/api.ts");
  });

  it("types each operation's body and answers (checked by tsc)", () => {
    expectTypeOf<ResponseBody<"/devices/{deviceId}", "get", 200>>().toEqualTypeOf<Device>();
    expectTypeOf<ResponseBody<"/devices/{deviceId}", "get", 404>>().toEqualTypeOf<ErrorBody>();
    expectTypeOf<SuccessBody<"/devices/{deviceId}", "patch">>().toEqualTypeOf<undefined>();
    expectTypeOf<RequestBody<"/devices/{deviceId}", "patch">>().toEqualTypeOf<UpdateDevice>();
    expectTypeOf<RequestBody<"/devices/{deviceId}", "get">>().toBeNever();
  });
});

describe("the generator", () => {
  const t = (schema: object) => typeOf(schema, "");

  it("maps JSON Schema types, nullable ones and enums", () => {
    expect(t({ type: "integer" })).toBe("number");
    expect(t({ type: ["string", "null"], format: "date-time" })).toBe("string | null");
    expect(t({ type: "string", enum: ["queued", "delivered"] })).toBe('"queued" | "delivered"');
    expect(t({ type: "array", items: { type: ["integer", "null"] } })).toBe("(number | null)[]");
    expect(t({ type: ["string", "number", "boolean", "object", "array", "null"] })).toBe("Json");
    expect(t({})).toBe("unknown");
    expect(t({ $ref: "#/components/schemas/Device" })).toBe("Device");
  });

  it("writes objects with their required and optional properties and their descriptions", () => {
    const object = { type: "object", properties: { id: { type: "integer" }, "vnd.range": { type: "string", description: "The range." } }, required: ["id"] };
    expect(t(object)).toBe('{\n  id: number;\n  /** The range. */\n  "vnd.range"?: string;\n}');
    expect(t({ type: "object", additionalProperties: { type: "integer" } })).toBe("{ [key: string]: number }");
    expect(t({ type: "array", items: { anyOf: [{ type: "object", properties: { a: { type: "string" } } }, { type: "null" }] } })).toBe("({\n  a?: string;\n} | null)[]");
  });

  it("writes each operation's parameters, body and responses", () => {
    const doc: OpenApiDocument = {
      openapi: "3.1.0",
      info: { title: "t", version: "1" },
      components: { schemas: { Error: { type: "object", properties: { reason: { type: "string" } }, required: ["reason"] } } },
      paths: {
        "/devices/{deviceId}": {
          patch: {
            summary: "Update a device",
            parameters: [
              { name: "deviceId", in: "path", required: true, schema: { type: "integer" } },
              { name: "if-match", in: "header", schema: { type: "string" } },
            ],
            requestBody: { required: true, content: { "application/json": { schema: { type: "object", properties: { name: { type: "string" } } } } } },
            responses: { 204: { description: "Done." }, 404: { content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } } },
          },
        },
      },
    };
    const source = generateClient(doc);
    expect(source).toContain("export type Error = {\n  reason: string;\n};");
    expect(source).toContain(
      [
        '  "/devices/{deviceId}": {',
        "    /** Update a device */",
        "    patch: {",
        "      path: {",
        "        deviceId: number;",
        "      };",
        "      headers?: {",
        '        "if-match"?: string;',
        "      };",
        "      body: {",
        "        name?: string;",
        "      };",
        "      responses: {",
        "        /** Done. */",
        "        204: undefined;",
        "        404: Error;",
        "      };",
        "    };",
        "  };",
      ].join("\n"),
    );
  });
});
