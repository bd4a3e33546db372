// Run by `pvkit bench` in a fresh process, so the resident-memory delta belongs to the guest alone.
import { memoryFigure } from './extra.js';

process.stdout.write(JSON.stringify(memoryFigure(Number(process.argv[2] ?? 64))) + '\n');
