# Runs first at every boot on the board. Keep it empty of logic: a fault
# here cannot be fixed over the air.
import gc

gc.collect()
