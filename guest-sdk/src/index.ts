export * from './emit/index.js';
