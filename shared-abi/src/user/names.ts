// Identifier rules shared by validate() and the C header generator: every name in an ABI ends up in a C macro.

/** C11 keywords (C11 6.4.1): a name equal to one would break generated argument lists. */
export const C_KEYWORDS: ReadonlySet<string> = new Set([
  'auto', 'break', 'case', 'char', 'const', 'continue', 'default', 'do', 'double', 'else', 'enum', 'extern',
  'float', 'for', 'goto', 'if', 'inline', 'int', 'long', 'register', 'restrict', 'return', 'short', 'signed',
  'sizeof', 'static', 'struct', 'switch', 'typedef', 'union', 'unsigned', 'void', 'volatile', 'while',
  '_Alignas', '_Alignof', '_Atomic', '_Bool', '_Complex', '_Generic', '_Imaginary', '_Noreturn',
  '_Static_assert', '_Thread_local',
]);

/** C11 6.4.2.1 identifier (ASCII subset). */
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why `name` is not a usable C identifier, or undefined when it is. */
export function cIdentifierProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'a name must be a non-empty string';
  if (!IDENT.test(name)) return 'not a valid C identifier (letters, digits and _, not starting with a digit)';
  if (C_KEYWORDS.has(name)) return 'is a C keyword';
  // C11 7.1.3: identifiers starting with _ and an uppercase letter or a second _ are reserved.
  if (/^_[A-Z_]/.test(name)) return 'is reserved in C (starts with _ and an uppercase letter or _)';
  return undefined;
}
