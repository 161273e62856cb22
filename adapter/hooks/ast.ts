import type { FieldAccess } from '../core/regs/describe';
import type { SourceRange } from './diagnostics';

export type BinaryOperator =
  '+' | '-' | '*' | '/' | '%' | '<<' | '>>' | '&' | '|' | '^' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '&&' | '||';

export type UnaryOperator = '-' | '~' | '!';

export type Expr =
  | { readonly kind: 'number'; readonly value: bigint; readonly range: SourceRange }
  | { readonly kind: 'bool'; readonly value: boolean; readonly range: SourceRange }
  | { readonly kind: 'name'; readonly name: string; readonly range: SourceRange }
  | {
      readonly kind: 'member';
      readonly object: Expr;
      readonly member: string;
      readonly memberRange: SourceRange;
      readonly range: SourceRange;
    }
  | { readonly kind: 'unary'; readonly op: UnaryOperator; readonly operand: Expr; readonly range: SourceRange }
  | {
      readonly kind: 'binary';
      readonly op: BinaryOperator;
      readonly left: Expr;
      readonly right: Expr;
      readonly range: SourceRange;
    }
  | { readonly kind: 'call'; readonly callee: Expr; readonly args: readonly Expr[]; readonly range: SourceRange };

export type ValueFormat = 'default' | 'x' | 'd' | 'b' | 'fields';

export interface Template {
  readonly parts: readonly (string | { readonly expr: Expr; readonly format: ValueFormat })[];
  readonly range: SourceRange;
}

export type AssignOperator = '=' | '+=' | '-=' | '*=' | '/=' | '%=' | '&=' | '|=' | '^=' | '<<=' | '>>=';

export type Stmt =
  | {
      readonly kind: 'var';
      readonly name: string;
      readonly nameRange: SourceRange;
      readonly init: Expr;
      readonly range: SourceRange;
    }
  | {
      readonly kind: 'assign';
      readonly target: Expr;
      readonly op: AssignOperator;
      readonly value: Expr;
      readonly range: SourceRange;
    }
  | {
      readonly kind: 'if';
      readonly condition: Expr;
      readonly then: readonly Stmt[];
      readonly otherwise: readonly Stmt[] | undefined;
      readonly range: SourceRange;
    }
  | {
      readonly kind: 'for';
      readonly name: string;
      readonly nameRange: SourceRange;
      readonly from: Expr;
      readonly to: Expr;
      readonly body: readonly Stmt[];
      readonly range: SourceRange;
    }
  | { readonly kind: 'log'; readonly template: Template; readonly range: SourceRange }
  | { readonly kind: 'break'; readonly template: Template | undefined; readonly range: SourceRange }
  | { readonly kind: 'end'; readonly decision: 'emulate' | 'handled'; readonly range: SourceRange }
  | { readonly kind: 'call'; readonly call: Expr; readonly range: SourceRange };

export interface FieldDecl {
  readonly name: string;
  readonly msb: number;
  readonly lsb: number;
  readonly access: FieldAccess | undefined;
  readonly doc: string;
  readonly range: SourceRange;
}

export interface RegisterDecl {
  readonly name: string;
  readonly offset: number;
  readonly width: 8 | 16 | 32 | 64;
  readonly access: FieldAccess;
  readonly doc: string;
  readonly fields: readonly FieldDecl[];
  readonly range: SourceRange;
}

export interface DeviceDecl {
  readonly kind: 'device';
  readonly name: string;
  readonly space: 'mmio' | 'pio';
  readonly base: number;
  readonly size: number;
  readonly title: string;
  readonly registers: readonly RegisterDecl[];
  readonly range: SourceRange;
}

export type HookTarget =
  | {
      readonly kind: 'named';
      readonly device: string;
      readonly deviceRange: SourceRange;
      readonly register: string | undefined;
      readonly registerRange: SourceRange | undefined;
    }
  | { readonly kind: 'range'; readonly space: 'mmio' | 'pio'; readonly address: number; readonly length: number };

export interface HookDecl {
  readonly kind: 'hook';
  readonly onRead: boolean;
  readonly onWrite: boolean;
  readonly target: HookTarget;
  readonly targetRange: SourceRange;
  readonly body: readonly Stmt[];
  /** Position of the closing brace: where an implicit `emulate` happens. */
  readonly endRange: SourceRange;
  readonly range: SourceRange;
}

export interface StateDecl {
  readonly kind: 'state';
  readonly name: string;
  readonly nameRange: SourceRange;
  readonly init: Expr;
  readonly range: SourceRange;
}

export type TopLevel = DeviceDecl | HookDecl | StateDecl;

export interface Program {
  readonly items: readonly TopLevel[];
}
