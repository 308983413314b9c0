# Bare-metal images for QEMU's mps2 machines.
#
#   include(cmake/cortex_m.cmake)
#   explore_cortex_m_image(my_image CPU cortex-m4
#                          SOURCES a.c b.c INCLUDE_DIRS include
#                          [FPU fpv5-sp-d16] [STACK_SIZE 16384] [DEFINITIONS FOO=1])
#
# adds the executable my_image (file my_image.elf) with the port (start-up, semihosting I/O,
# instruction counter, newlib stubs), the machine's linker script and the CPU flags that
# hw_profiles/*.yaml `validation.cflags` name.  The target property EXPLORE_QEMU_MACHINE
# holds the machine to run it on.  Needs the toolchain file arm-none-eabi.cmake.

set(EXPLORE_PORT_DIR "${CMAKE_CURRENT_LIST_DIR}/../port" CACHE INTERNAL "")

# Sets <out_flags> to the CPU flags and <out_machine> to the QEMU machine for <cpu>;
# <fpu> (may be empty) overrides the default FPU of an FPU core.
function(explore_cortex_m_flags cpu fpu out_flags out_machine)
    if(cpu STREQUAL "cortex-m0plus")
        set(flags -mcpu=cortex-m0plus -mthumb -mfloat-abi=soft)
        set(machine mps2-an385)
    elseif(cpu STREQUAL "cortex-m4")
        if(NOT fpu)
            set(fpu fpv4-sp-d16)
        endif()
        set(flags -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=${fpu})
        set(machine mps2-an386)
    elseif(cpu STREQUAL "cortex-m7")
        if(NOT fpu)
            set(fpu fpv5-d16)
        endif()
        set(flags -mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=${fpu})
        set(machine mps2-an500)
    else()
        message(FATAL_ERROR "explore_cortex_m_image: unknown CPU '${cpu}' (cortex-m0plus, cortex-m4, cortex-m7)")
    endif()
    set(${out_flags} ${flags} PARENT_SCOPE)
    set(${out_machine} ${machine} PARENT_SCOPE)
endfunction()

function(explore_cortex_m_image name)
    cmake_parse_arguments(ARG "" "CPU;FPU;STACK_SIZE" "SOURCES;INCLUDE_DIRS;DEFINITIONS" ${ARGN})
    if(NOT ARG_CPU)
        message(FATAL_ERROR "explore_cortex_m_image(${name}): CPU is required")
    endif()
    explore_cortex_m_flags("${ARG_CPU}" "${ARG_FPU}" cpu_flags machine)
    set(port "${EXPLORE_PORT_DIR}")
    set(ldscript "${port}/cortex-m/${machine}.ld")

    add_executable(${name}
        ${ARG_SOURCES}
        ${port}/cortex-m/startup.c
        ${port}/cortex-m/semihosting.c
        ${port}/cortex-m/counter.c
        ${port}/cortex-m/syscalls.c)
    set_target_properties(${name} PROPERTIES
        SUFFIX ".elf"
        EXPLORE_QEMU_MACHINE ${machine}
        LINK_DEPENDS "${ldscript};${port}/cortex-m/mps2-sections.ld")
    target_include_directories(${name} PRIVATE ${ARG_INCLUDE_DIRS} ${port} ${port}/cortex-m)
    # Every mps2 machine clocks SysTick at 25 MHz and -icount shift=0 makes one instruction
    # 1 ns, so a tick is 40 instructions (port/README.md).
    target_compile_definitions(${name} PRIVATE EXPLORE_INSTRUCTIONS_PER_TICK=40u ${ARG_DEFINITIONS})
    target_compile_options(${name} PRIVATE
        ${cpu_flags} -O2 -ffp-contract=off -std=c99 -Wall -Wextra -Werror
        -ffunction-sections -fdata-sections)
    set(link_flags ${cpu_flags} -nostartfiles --specs=nano.specs
        -T${ldscript} -L${port}/cortex-m
        -Wl,--gc-sections -Wl,--fatal-warnings -Wl,--no-undefined
        -Wl,-Map=$<TARGET_FILE:${name}>.map)
    if(ARG_STACK_SIZE)
        list(APPEND link_flags -Wl,--defsym=__stack_size=${ARG_STACK_SIZE})
    endif()
    target_link_options(${name} PRIVATE ${link_flags})
    # libm before libc: libm's objects reference errno and friends in libc.
    target_link_libraries(${name} PRIVATE m c gcc)
endfunction()
