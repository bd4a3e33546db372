// @pvkit/guest-sdk: x86 assembler, guest stub generator and emitters.
export * from './image.js';
export * from './x86/index.js';
export * from './emit/index.js';
export * from './stubs/index.js';
