# The hosted layer on a 32-bit host: built with the armhf cross compiler and a 64-bit time_t, run under
# qemu-user (run_hosted_32bit_test.sh says what and why).
vpci_qemu_user_test(hosted_32bit_armhf_qemu ${CMAKE_CURRENT_LIST_DIR}/run_hosted_32bit_test.sh
                    arm-linux-gnueabihf-g++ qemu-arm 900)
