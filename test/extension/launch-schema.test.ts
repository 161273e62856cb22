/**
 * package.json's launch schema must describe exactly the adapter's `LaunchArguments` (adapter/session/protocol.ts):
 * the same properties, the same required ones, and matching JSON types and enums.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import ts from 'typescript';

interface SchemaProperty {
  type?: string | string[];
  enum?: string[];
  items?: { type?: string };
}

interface ExpectedProperty {
  optional: boolean;
  types: string[];
  enum?: string[];
  items?: string;
}

function jsonTypesOf(node: ts.TypeNode): { types: string[]; enum?: string[]; items?: string } {
  if (ts.isUnionTypeNode(node)) {
    const literals = node.types.filter(ts.isLiteralTypeNode).map((t) => (t.literal as ts.StringLiteral).text);
    if (literals.length === node.types.length) return { types: ['string'], enum: literals };
    return { types: [...new Set(node.types.flatMap((t) => jsonTypesOf(t).types))].sort() };
  }
  if (ts.isArrayTypeNode(node)) return { types: ['array'], items: jsonTypesOf(node.elementType).types[0] };
  if (ts.isTypeReferenceNode(node) && node.typeName.getText() === 'Record') return { types: ['object'] };
  switch (node.kind) {
    case ts.SyntaxKind.StringKeyword:
      return { types: ['string'] };
    case ts.SyntaxKind.NumberKeyword:
      return { types: ['number'] };
    case ts.SyntaxKind.BooleanKeyword:
      return { types: ['boolean'] };
    default:
      throw new Error(`launch-schema test: no JSON type for ${node.getText()}`);
  }
}

function launchArguments(): Map<string, ExpectedProperty> {
  const file = 'adapter/session/protocol.ts';
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const found = new Map<string, ExpectedProperty>();
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== 'LaunchArguments') return;
    for (const member of node.members) {
      if (!ts.isPropertySignature(member) || !member.type) continue;
      found.set(member.name.getText(source), {
        optional: member.questionToken !== undefined,
        ...jsonTypesOf(member.type),
      });
    }
  });
  assert.ok(found.size > 0, 'LaunchArguments not found in protocol.ts');
  return found;
}

function launchSchema(): { properties: Record<string, SchemaProperty>; required: string[] } {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
    contributes: {
      debuggers: {
        type: string;
        configurationAttributes: { launch: { properties: Record<string, SchemaProperty>; required?: string[] } };
      }[];
    };
  };
  const debuggerContribution = pkg.contributes.debuggers.find((d) => d.type === 'mmiodbg');
  assert.ok(debuggerContribution, 'package.json has no mmiodbg debugger');
  const launch = debuggerContribution.configurationAttributes.launch;
  return { properties: launch.properties, required: launch.required ?? [] };
}

void describe('launch.json schema', () => {
  const expected = launchArguments();
  const schema = launchSchema();

  void it('has exactly the properties of LaunchArguments', () => {
    assert.deepEqual(Object.keys(schema.properties).sort(), [...expected.keys()].sort());
  });

  void it('requires exactly the non-optional properties', () => {
    const required = [...expected].filter(([, p]) => !p.optional).map(([name]) => name);
    assert.deepEqual([...schema.required].sort(), required.sort());
  });

  void it('gives each property the JSON type of its TypeScript type', () => {
    for (const [name, p] of expected) {
      const s = schema.properties[name];
      const types = Array.isArray(s.type) ? [...s.type].sort() : [s.type];
      assert.deepEqual(types, p.types, `type of ${name}`);
      if (p.enum) assert.deepEqual(s.enum, p.enum, `enum of ${name}`);
      if (p.items) assert.equal(s.items?.type, p.items, `item type of ${name}`);
    }
  });

  void it('generates initial configurations and snippets that use only known properties', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
      contributes: {
        debuggers: {
          initialConfigurations: Record<string, unknown>[];
          configurationSnippets: { body: Record<string, unknown> }[];
        }[];
      };
    };
    const d = pkg.contributes.debuggers[0];
    const allowed = new Set([...expected.keys(), 'type', 'request', 'name']);
    for (const config of [...d.initialConfigurations, ...d.configurationSnippets.map((s) => s.body)])
      for (const key of Object.keys(config)) assert.ok(allowed.has(key), `unknown launch property ${key}`);
  });
});
