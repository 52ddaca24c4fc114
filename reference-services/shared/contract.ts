import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Context, Next } from 'koa';
import { parse } from 'yaml';
import { HttpError } from './errors.ts';

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => void;

interface OpenApiDocument {
  paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }>; $ref?: string }> }>>;
  components: { schemas: Record<string, unknown>; responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> };
}

const DOC_ID = 'openapi.json';

/**
 * An OpenAPI 3.1 document used as the contract: services validate request bodies with
 * its component schemas, and tests validate real responses against it. 3.1 schemas are
 * JSON Schema 2020-12, so Ajv's 2020 dialect reads them as they are.
 */
export class Contract {
  readonly doc: OpenApiDocument;
  private readonly ajv: Ajv2020;
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(file: string) {
    this.doc = parse(readFileSync(file, 'utf8')) as OpenApiDocument;
    this.ajv = new Ajv2020({ allErrors: false, strict: false });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: DOC_ID, components: this.doc.components }, DOC_ID);
  }

  /** A validator for `#/components/schemas/<name>`. */
  schema(name: string): ValidateFunction {
    const ref = `${DOC_ID}#/components/schemas/${name}`;
    let fn = this.cache.get(ref);
    if (!fn) {
      if (!this.doc.components.schemas[name]) throw new Error(`contract has no schema ${name}`);
      fn = this.ajv.compile({ $ref: ref });
      this.cache.set(ref, fn);
    }
    return fn;
  }

  /** Koa middleware: 400 with the first violation when the JSON body breaks the schema. */
  body(name: string) {
    const validate = this.schema(name);
    return async (ctx: Context, next: Next) => {
      const body = (ctx.request as { body?: unknown }).body;
      if (body === undefined) throw new HttpError(400, 'missing_body', 'a JSON request body is required');
      if (!ctx.is('application/json')) {
        throw new HttpError(415, 'unsupported_media_type', 'request body must be application/json');
      }
      if (!validate(body)) throw new HttpError(400, 'invalid_body', describe(validate.errors));
      await next();
    };
  }

  /**
   * Checks a response against the operation's declared response (exact status, else
   * `default`). Returns the problems; an empty list means the response keeps the contract.
   */
  checkResponse(method: string, pathTemplate: string, status: number, body: unknown): string[] {
    const operation = this.doc.paths[pathTemplate]?.[method.toLowerCase()];
    if (!operation) return [`contract has no operation ${method} ${pathTemplate}`];
    let response = operation.responses?.[String(status)] ?? operation.responses?.default;
    if (!response) return [`contract declares no ${status} response for ${method} ${pathTemplate}`];
    if (response.$ref) {
      const name = response.$ref.split('/').pop()!;
      response = this.doc.components.responses?.[name] ?? {};
    }
    const schema = response.content?.['application/json']?.schema;
    if (!schema) return [];
    const key = `${method.toUpperCase()} ${pathTemplate} ${status}`;
    let validate = this.cache.get(key);
    if (!validate) {
      // Local refs in the document point into the registered document.
      const ref = (schema as { $ref?: string }).$ref;
      validate = this.ajv.compile(ref?.startsWith('#/') ? { $ref: `${DOC_ID}${ref}` } : (schema as object));
      this.cache.set(key, validate);
    }
    return validate(body) ? [] : [describe(validate.errors)];
  }
}

function describe(errors: ErrorObject[] | null | undefined): string {
  const first = errors?.[0];
  if (!first) return 'body does not match the contract';
  const where = first.instancePath ? `body${first.instancePath.replaceAll('/', '.')}` : 'body';
  const extra = first.keyword === 'additionalProperties' ? ` (${String((first.params as { additionalProperty?: string }).additionalProperty)})` : '';
  return `${where} ${first.message ?? 'is invalid'}${extra}`;
}
