ALTER TABLE `homes` ADD `deactivated` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `user_sessions` ADD `app_id` text;