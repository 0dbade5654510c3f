# The byte-exact suites and the PF engine's replay on a big-endian host: built with the s390x cross
# compiler, run under qemu-user (run_big_endian_test.sh says which and why).
vpci_qemu_user_test(big_endian_s390x_qemu ${CMAKE_CURRENT_LIST_DIR}/run_big_endian_test.sh
                    s390x-linux-gnu-g++ qemu-s390x 600)
