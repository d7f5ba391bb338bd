pub struct Cpu;
