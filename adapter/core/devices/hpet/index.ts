export * from './acpi';
export * from './config';
export * from './hpet';
export * from './registers';
